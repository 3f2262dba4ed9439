//! Why a command of the `myelin` binary failed: a bad configuration (exit code 2) or anything else.

use myelin::config::ConfigError;

pub enum Failure {
    Config(ConfigError),
    Other(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure::Other(error.to_string())
    }
}
