//! URL previews: the OpenGraph data of a linked page (or its `<title>` and meta description),
//! with the preview image fetched and stored as local media. Pages are fetched through the
//! [`crate::ports::UrlFetcher`] port (which enforces the address policy); previews are cached
//! for a day.

use serde_json::{Map, Value as JsonValue, json};

use super::{Media, RemoteContent};
use crate::{
    error::{Error, Result},
    ports::UrlFetcher,
    storage::WriteBatch,
    users::now_ms,
};

/// URL → `{ts, preview}`.
const URL_PREVIEW: &str = "url_preview";
const PREVIEW_LIFETIME_MS: u64 = 24 * 3600 * 1000;
/// Longest text kept of a title or description.
const MAX_TEXT: usize = 500;

/// The `<meta>` tags and `<title>` of an HTML page, lower-cased attribute names. A small
/// scanner, not a full HTML parser: previews need a handful of tags from the head.
fn meta_tags(html: &str) -> (Vec<Vec<(String, String)>>, Option<String>) {
    let lower = html.to_ascii_lowercase();
    let mut tags = Vec::new();
    let mut from = 0;
    while let Some(start) = lower[from..].find("<meta") {
        let start = from + start + 5;
        let Some(end) = tag_end(html, start) else {
            break;
        };
        tags.push(attributes(&html[start..end]));
        from = end;
    }
    let title = lower.find("<title").and_then(|start| {
        let open_end = start + lower[start..].find('>')? + 1;
        let close = open_end + lower[open_end..].find("</title")?;
        Some(decode_entities(html[open_end..close].trim()))
    });
    (tags, title)
}

/// The index of the `>` ending a tag, skipping quoted attribute values.
fn tag_end(html: &str, start: usize) -> Option<usize> {
    let mut quote = None;
    for (offset, character) in html[start..].char_indices() {
        match (quote, character) {
            (None, '"' | '\'') => quote = Some(character),
            (Some(open), _) if character == open => quote = None,
            (None, '>') => return Some(start + offset),
            _ => {}
        }
    }
    None
}

fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = tag.trim_start();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace() || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let mut value = String::new();
        if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (text, remaining) = match after.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let body = &after[1..];
                    let close = body.find(quote).unwrap_or(body.len());
                    (&body[..close], body.get(close + 1..).unwrap_or(""))
                }
                _ => {
                    let close = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..close], &after[close..])
                }
            };
            value = decode_entities(text);
            rest = remaining.trim_start();
        } else if rest.starts_with('/') {
            rest = rest[1..].trim_start();
        }
        if !name.is_empty() {
            found.push((name, value));
        }
    }
    found
}

fn decode_entities(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

fn shorten(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

/// The OpenGraph data of a page: every `og:*` property, with `og:title` and `og:description`
/// falling back to the title and the meta description.
pub(crate) fn open_graph(html: &str) -> Map<String, JsonValue> {
    let (tags, title) = meta_tags(html);
    let mut graph = Map::new();
    let mut description = None;
    for tag in &tags {
        let get = |key: &str| {
            tag.iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value.clone())
        };
        let Some(content) = get("content") else {
            continue;
        };
        if let Some(property) = get("property").or_else(|| get("name"))
            && property.starts_with("og:")
            && !graph.contains_key(&property)
        {
            graph.insert(property, shorten(&content).into());
        } else if get("name").is_some_and(|name| name.eq_ignore_ascii_case("description")) {
            description = Some(content);
        }
    }
    if !graph.contains_key("og:title")
        && let Some(title) = title.filter(|title| !title.is_empty())
    {
        graph.insert("og:title".into(), shorten(&title).into());
    }
    if !graph.contains_key("og:description")
        && let Some(description) = description
    {
        graph.insert("og:description".into(), shorten(&description).into());
    }
    graph
}

/// Resolves a possibly relative link against the page's URL (enough for `og:image`).
fn absolute(base: &str, link: &str) -> Option<String> {
    if link.starts_with("http://") || link.starts_with("https://") {
        return Some(link.to_owned());
    }
    let scheme_end = base.find("://")? + 3;
    let origin_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |slash| scheme_end + slash);
    if let Some(rest) = link.strip_prefix("//") {
        return Some(format!("{}{rest}", &base[..scheme_end]));
    }
    if link.starts_with('/') {
        return Some(format!("{}{link}", &base[..origin_end]));
    }
    let directory_end = base
        .rfind('/')
        .filter(|end| *end >= origin_end)
        .unwrap_or(base.len());
    Some(format!("{}/{link}", &base[..directory_end]))
}

impl Media {
    /// The preview of `url` (cached for a day).
    pub async fn preview(&self, fetcher: &dyn UrlFetcher, url: &str) -> Result<JsonValue> {
        if let Some(cached) = self
            .store()
            .get_json::<JsonValue>(URL_PREVIEW, url.as_bytes())?
            && cached["ts"]
                .as_u64()
                .is_some_and(|ts| now_ms().saturating_sub(ts) < PREVIEW_LIFETIME_MS)
        {
            return Ok(cached["preview"].clone());
        }
        let limit = self.inner.config.media.url_preview_max_bytes;
        let page = fetcher.fetch(url, limit).await?;
        let content_type = page
            .content_type
            .clone()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut preview = Map::new();
        if content_type.starts_with("image/") {
            self.attach_image(&mut preview, page.bytes, Some(content_type))
                .await?;
        } else if content_type.starts_with("text/html")
            || content_type.starts_with("application/xhtml")
        {
            let html = String::from_utf8_lossy(&page.bytes);
            preview = open_graph(&html);
            if let Some(image_url) = preview
                .get("og:image")
                .and_then(JsonValue::as_str)
                .and_then(|image| absolute(url, image))
            {
                preview.remove("og:image");
                match fetcher.fetch(&image_url, limit).await {
                    Ok(image)
                        if image
                            .content_type
                            .as_deref()
                            .is_some_and(|kind| kind.starts_with("image/")) =>
                    {
                        self.attach_image(&mut preview, image.bytes, image.content_type)
                            .await?;
                    }
                    Ok(_) => {}
                    Err(error) => tracing::debug!(%error, %image_url, "preview image not fetched"),
                }
            }
        } else {
            return Err(Error::NotFound("Nothing to preview at this URL".into()));
        }
        let preview = JsonValue::Object(preview);
        let mut batch = WriteBatch::new();
        batch.put_json(
            URL_PREVIEW,
            url.as_bytes().to_vec(),
            &json!({ "ts": now_ms(), "preview": preview }),
        );
        self.store().commit(batch).await?;
        Ok(preview)
    }

    /// Stores a preview image as local media and points `og:image` at it.
    async fn attach_image(
        &self,
        preview: &mut Map<String, JsonValue>,
        bytes: Vec<u8>,
        content_type: Option<String>,
    ) -> Result<()> {
        let size = bytes.len();
        // The image's size from its header alone, as Synapse sends it [Complement TestUrlPreview].
        let dimensions = image::ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .ok()
            .and_then(|reader| reader.into_dimensions().ok());
        let media_id = crate::users::random_string(24);
        let own = self.inner.server_name.clone();
        self.store_fetched(
            &own,
            &media_id,
            RemoteContent {
                bytes,
                content_type: content_type.clone(),
                filename: None,
            },
            false,
        )
        .await?;
        preview.insert("og:image".into(), format!("mxc://{own}/{media_id}").into());
        preview.insert("matrix:image:size".into(), size.into());
        if let Some((width, height)) = dimensions {
            preview.insert("og:image:width".into(), width.into());
            preview.insert("og:image:height".into(), height.into());
        }
        if let Some(kind) = content_type {
            preview.insert("og:image:type".into(), kind.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_graph_tags_win_and_fall_back_to_title_and_description() {
        let html = r#"<html><head><TITLE>Plain &amp; simple</TITLE>
            <meta name="description" content="A page">
            <meta property="og:site_name" content='Example'>
            <meta property=og:image content="/logo.png" />
            </head><body>ignored <meta property="og:title" content="Later"></body></html>"#;
        let graph = open_graph(html);
        assert_eq!(graph["og:site_name"], "Example");
        assert_eq!(graph["og:image"], "/logo.png");
        // The og:title in the body still counts (scanners are lenient, as Synapse's).
        assert_eq!(graph["og:title"], "Later");
        assert_eq!(graph["og:description"], "A page");
        let plain = open_graph("<title> Just a title </title>");
        assert_eq!(plain["og:title"], "Just a title");
    }

    #[test]
    fn relative_image_links_resolve_against_the_page() {
        assert_eq!(
            absolute("https://example.org/a/b.html", "/logo.png").as_deref(),
            Some("https://example.org/logo.png")
        );
        assert_eq!(
            absolute("https://example.org/a/b.html", "c.png").as_deref(),
            Some("https://example.org/a/c.png")
        );
        assert_eq!(
            absolute("https://example.org", "//cdn.example/x.png").as_deref(),
            Some("https://cdn.example/x.png")
        );
    }
}
