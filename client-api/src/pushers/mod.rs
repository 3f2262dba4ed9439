//! Pushers and the notifications they deliver: `GET /pushers`, `POST /pushers/set` and
//! `GET /notifications`. Delivery itself is `myelin_core::push_delivery`.
pub mod get_notifications;
pub mod get_pushers;
pub mod set_pusher;
