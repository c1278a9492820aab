//! What a batch is given: a list of images.
//!
//! - a text file: one image a line (a path, or a URL on any store `--out`
//!   takes, e.g. `s3://bucket/in/a.jpg`); blank lines and `#` comments ignored;
//! - a JSONL file: one object a line with an `"image"` field; its other
//!   fields are carried through to the results;
//! - a folder: its PNG, JPEG and WebP files, sorted by name;
//! - a store prefix (`s3://bucket/in/`): the images under it, sorted by key;
//! - a text or JSONL list stored in a bucket (`s3://bucket/lists/a.txt`,
//!   `.jsonl`, `.list`), for array jobs that share no disk.
//!
//! Paths in a list are taken as they are written (relative ones from the
//! current folder). An image listed twice is taken once.

use std::collections::HashSet;
use std::path::Path;

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde_json::{Map, Value};
use url::Url;

use crate::store::{Store, StoreOptions};

/// One image of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct ListEntry {
    /// The image as the list names it: a path or a URL. Its identity, for
    /// shards and resumes.
    pub image: String,
    /// The other fields of its JSONL line, carried through to its result.
    pub extra: Map<String, Value>,
}

/// Why a list cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The file, folder or prefix cannot be read.
    #[error("{list}: cannot read the list: {reason}")]
    Read {
        /// The list as given.
        list: String,
        /// What went wrong.
        reason: String,
    },
    /// A line is not what the list's format wants.
    #[error("{list}: line {line}: {reason}")]
    Line {
        /// The list as given.
        list: String,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// It names no image.
    #[error("{list}: no images in the list")]
    Empty {
        /// The list as given.
        list: String,
    },
}

/// Whether a name ends like an image the engine reads.
pub(crate) fn is_image(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".png", ".jpg", ".jpeg", ".webp"].iter().any(|ext| lower.ends_with(ext))
}

/// A URL on a store (not a local path).
pub(crate) fn store_url(text: &str) -> Option<Url> {
    text.contains("://").then(|| Url::parse(text).ok()).flatten().filter(|url| url.scheme() != "file")
}

/// Reads `list` (see the module docs); a store prefix is listed on
/// `runtime`, with `options`.
pub(crate) fn read_list(
    list: &str,
    options: StoreOptions,
    runtime: &tokio::runtime::Runtime,
) -> Result<Vec<ListEntry>, ListError> {
    let read_error = |reason: String| ListError::Read { list: list.into(), reason };
    let entries = if let Some(url) = store_url(list) {
        let root = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        let store = Store::open(&root, options).map_err(|e| read_error(e.to_string()))?;
        let prefix =
            object_store::path::Path::from_url_path(url.path()).map_err(|e| read_error(e.to_string()))?;
        if [".txt", ".jsonl", ".list"].iter().any(|ext| url.path().ends_with(ext)) {
            let get = async { store.objects().get(&prefix).await?.bytes().await };
            let bytes = runtime.block_on(get).map_err(|e| read_error(crate::store::one_line(&e)))?;
            return finish(list, parse_lines(list, &text(list, bytes.to_vec())?)?);
        }
        let listed: Vec<_> = runtime
            .block_on(async { store.objects().list(Some(&prefix)).try_collect::<Vec<_>>().await })
            .map_err(|e| read_error(crate::store::one_line(&e)))?;
        let mut keys: Vec<String> =
            listed.into_iter().map(|meta| meta.location.to_string()).filter(|k| is_image(k)).collect();
        keys.sort();
        keys.into_iter().map(|key| entry(format!("{root}/{key}"))).collect()
    } else if Path::new(list).is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(list)
            .map_err(|e| read_error(e.to_string()))?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
            .map(|entry| entry.path().to_string_lossy().into_owned())
            .filter(|name| is_image(name))
            .collect();
        names.sort();
        names.into_iter().map(entry).collect()
    } else {
        let bytes = std::fs::read(list).map_err(|e| read_error(e.to_string()))?;
        parse_lines(list, &text(list, bytes)?)?
    };
    finish(list, entries)
}

/// A list's bytes as text, without a byte-order mark; bytes that are not
/// UTF-8 are an error naming their line.
fn text(list: &str, bytes: Vec<u8>) -> Result<String, ListError> {
    let mut text = String::from_utf8(bytes).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        ListError::Line { list: list.into(), line, reason: "not UTF-8 text".into() }
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// Drops repeated images; an empty list is an error.
fn finish(list: &str, entries: Vec<ListEntry>) -> Result<Vec<ListEntry>, ListError> {
    let mut seen = HashSet::new();
    let entries: Vec<ListEntry> = entries.into_iter().filter(|e| seen.insert(e.image.clone())).collect();
    if entries.is_empty() {
        return Err(ListError::Empty { list: list.into() });
    }
    Ok(entries)
}

fn entry(image: String) -> ListEntry {
    ListEntry { image, extra: Map::new() }
}

/// A text or JSONL list: JSONL when its first line that says anything is an object.
fn parse_lines(list: &str, text: &str) -> Result<Vec<ListEntry>, ListError> {
    let lines = text.lines().enumerate().map(|(i, line)| (i + 1, line.trim()));
    let lines: Vec<(usize, &str)> =
        lines.filter(|(_, line)| !line.is_empty() && !line.starts_with('#')).collect();
    let jsonl = lines.first().is_some_and(|(_, line)| line.starts_with('{'));
    lines
        .into_iter()
        .map(|(line, text)| {
            let wrong = |reason: String| ListError::Line { list: list.into(), line, reason };
            let named = |image: &str| match image.chars().find(|c| c.is_control()) {
                // A name on one line, so that every report of it is one line too.
                Some(c) => {
                    Err(wrong(format!("image name contains a control character (U+{:04X})", c as u32)))
                }
                None => Ok(()),
            };
            if !jsonl {
                named(text)?;
                return Ok(entry(text.to_string()));
            }
            let mut object = match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(object)) => object,
                Ok(_) => return Err(wrong("not a JSON object".into())),
                Err(error) => return Err(wrong(format!("invalid JSON: {error}"))),
            };
            match object.remove("image") {
                Some(Value::String(image)) if !image.trim().is_empty() => {
                    named(image.trim())?;
                    Ok(ListEntry { image: image.trim().to_string(), extra: object })
                }
                _ => Err(wrong("no \"image\" field with a path or URL".into())),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_jsonl() {
        let text = "# photos\n\na.jpg\n  s3://bucket/in/b.png  \n# done\n";
        let entries = parse_lines("l.txt", text).unwrap();
        assert_eq!(
            entries.iter().map(|e| e.image.as_str()).collect::<Vec<_>>(),
            ["a.jpg", "s3://bucket/in/b.png"]
        );
        let jsonl = "{\"image\": \"a.jpg\", \"id\": 7, \"tags\": [\"x\"]}\n\n{\"image\": \"b.jpg\"}\n";
        let entries = parse_lines("l.jsonl", jsonl).unwrap();
        assert_eq!(entries[0].image, "a.jpg");
        assert_eq!(entries[0].extra["id"], 7);
        assert!(entries[1].extra.is_empty());
        let error = parse_lines("l.jsonl", "{\"image\": \"a.jpg\"}\n{\"id\": 3}\n").unwrap_err();
        assert_eq!(error.to_string(), "l.jsonl: line 2: no \"image\" field with a path or URL");
        let error = parse_lines("l.jsonl", "{\"image\": \"b.p\\ng\"}\n").unwrap_err();
        assert_eq!(error.to_string(), "l.jsonl: line 1: image name contains a control character (U+000A)");
        let error = parse_lines("l.txt", "a.jpg\nb\u{0}.jpg\n").unwrap_err();
        assert_eq!(error.to_string(), "l.txt: line 2: image name contains a control character (U+0000)");
        let error = parse_lines("l.jsonl", "{\"image\": \"a.jpg\"}\n{oops\n").unwrap_err();
        assert!(error.to_string().starts_with("l.jsonl: line 2: invalid JSON: "), "{error}");
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_naming_its_line() {
        let error = text("l.txt", b"a.jpg\nb.jpg\nc\xff.jpg\n".to_vec()).unwrap_err();
        assert_eq!(error.to_string(), "l.txt: line 3: not UTF-8 text");
        assert_eq!(text("l.txt", "\u{feff}a.jpg\n".into()).unwrap(), "a.jpg\n");
    }

    #[test]
    fn names_and_urls() {
        assert!(is_image("x/A.JPG") && is_image("b.webp") && !is_image("notes.txt"));
        assert!(store_url("s3://bucket/in/").is_some() && store_url("file:///tmp/x").is_none());
        assert!(store_url("photos/a.jpg").is_none());
    }
}
