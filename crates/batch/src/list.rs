//! What a batch is given: a list of images.
//!
//! - a text file: one image a line (a path, a `file://` URL, or a URL on
//!   any store `--out` takes, e.g. `s3://bucket/in/a.jpg`); blank lines and
//!   `#` comments ignored. Store URLs are URLs: a key's `%`, `#`, `?` and
//!   spaces are written percent-encoded (`s3://bucket/in/50%25%20off.png`
//!   is the key `in/50% off.png`);
//! - a JSONL file: one object a line with an `"image"` field; its other
//!   fields are carried through to the results;
//! - a folder: its PNG, JPEG and WebP files (links to files followed),
//!   sorted by name; what is skipped is named in one warning;
//! - a store prefix (`s3://bucket/in/`): the images under it, sorted by
//!   key, each read by its key exactly as listed;
//! - a text or JSONL list stored in a bucket (`s3://bucket/lists/a.txt`,
//!   `.jsonl`, `.list`), for array jobs that share no disk.
//!
//! A list is read as a stream and only this process's shard of it is kept
//! ([`ShardList`]): a million-line list costs a task the memory of its own
//! share. Each image has an identity, which decides its shard and its
//! resume marker: a local path made absolute and lexically normal (`a.png`,
//! `./a.png`, `.//a.png` and `/abs/a.png` are one image), a store object's
//! root and key. An image listed twice is done once; each of its lines
//! still gets its results line.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use object_store::ObjectStoreExt;
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use crate::shard::Shard;
use variegate_store::{Store, StoreOptions, normal_path as normal};

/// One image of a list.
#[derive(Clone, Debug, PartialEq)]
pub struct ListEntry {
    /// The image as the list names it: a path or a URL, for people.
    pub image: String,
    /// Where it is read from.
    pub location: ImageLocation,
    /// The other fields of its JSONL line, carried through to its result.
    pub extra: Map<String, Value>,
}

/// Where an image of a list is read from.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageLocation {
    /// A file, absolute and lexically normal (no `.`, `..` or `//`).
    Local(PathBuf),
    /// An object: the store's root URL (`s3://bucket`) and its key.
    Stored {
        /// `scheme://bucket`.
        root: String,
        /// The object's key, exactly.
        key: object_store::path::Path,
    },
}

impl ListEntry {
    /// An entry for `image` (a path, `file://` URL or store URL), with no
    /// extra fields.
    pub fn new(image: &str) -> Result<ListEntry, ListError> {
        let location = locate(image).map_err(|reason| ListError::Location { image: image.into(), reason })?;
        Ok(ListEntry { image: image.into(), location, extra: Map::new() })
    }

    /// The image's identity: what decides its shard and its resume marker.
    /// A file name is bytes: a path that is not UTF-8 is its `file://` URL,
    /// whose percent-encoding keeps every byte (and which no UTF-8 path,
    /// always absolute here, can be), so two files never share one.
    pub fn identity(&self) -> String {
        match &self.location {
            ImageLocation::Local(path) => lossless(path),
            ImageLocation::Stored { root, key } => format!("{root}/{key}"),
        }
    }
}

/// An absolute path as text, losing nothing: itself where it is UTF-8,
/// else its `file://` URL (`file:///data/lat%E9.png`), which a list can
/// name it by.
fn lossless(path: &Path) -> String {
    match path.to_str() {
        Some(text) => text.to_string(),
        None => Url::from_file_path(path).map_or_else(|()| path.to_string_lossy().into_owned(), String::from),
    }
}

/// This process's share of a list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShardList {
    /// The shard's entries, in list order; an image listed more than once
    /// has an entry a line.
    pub entries: Vec<ListEntry>,
    /// Entries in the whole list (lines, keys or files naming images).
    pub listed: usize,
}

impl ShardList {
    /// The shard's images, each once.
    pub fn images(&self) -> usize {
        self.entries.iter().map(ListEntry::identity).collect::<HashSet<_>>().len()
    }
}

/// Why a list cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// An image's path or URL cannot be read as one ([`ListEntry::new`]).
    #[error("{image:?}: {reason}")]
    Location {
        /// The image as given.
        image: String,
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

/// A URL on a store (not a local path, not `file://`).
pub(crate) fn store_url(text: &str) -> Option<Url> {
    text.contains("://").then(|| Url::parse(text).ok()).flatten().filter(|url| url.scheme() != "file")
}

/// Where `image` (as a list writes it) is read from.
fn locate(image: &str) -> Result<ImageLocation, String> {
    if let Some(url) = store_url(image) {
        let root = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        let key = object_store::path::Path::from_url_path(url.path()).map_err(|e| e.to_string())?;
        return Ok(ImageLocation::Stored { root, key });
    }
    let path = match image.strip_prefix("file://") {
        Some(_) => Url::parse(image)
            .ok()
            .and_then(|url| url.to_file_path().ok())
            .ok_or_else(|| format!("{image:?} is not a local file URL"))?,
        None => PathBuf::from(image),
    };
    let absolute = std::path::absolute(&path).map_err(|e| e.to_string())?;
    Ok(ImageLocation::Local(normal(&absolute)))
}

/// Reads `list` (see the module docs) and keeps `shard`'s entries; a store
/// prefix is listed on `runtime`, with `options`.
pub(crate) fn read_list(
    list: &str,
    shard: &Shard,
    options: StoreOptions,
    runtime: &tokio::runtime::Runtime,
) -> Result<ShardList, ListError> {
    let read_error = |reason: String| ListError::Read { list: list.into(), reason };
    let mut kept = Kept::new(shard);
    if let Some(url) = store_url(list) {
        let root = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        let store = Store::open(&root, options).map_err(|e| read_error(e.to_string()))?;
        let prefix =
            object_store::path::Path::from_url_path(url.path()).map_err(|e| read_error(e.to_string()))?;
        if [".txt", ".jsonl", ".list"].iter().any(|ext| url.path().ends_with(ext)) {
            let get = async { store.objects().get(&prefix).await?.bytes().await };
            let bytes = runtime.block_on(get).map_err(|e| read_error(variegate_core::one_line(&e)))?;
            parse_lines(list, &bytes[..], &mut kept)?;
        } else {
            let mut keys = Vec::new();
            runtime
                .block_on(async {
                    let mut listing = store.objects().list(Some(&prefix));
                    while let Some(meta) = listing.next().await {
                        let key = meta?.location;
                        if is_image(key.as_ref()) {
                            let image = format!("{root}/{key}");
                            kept.listed += 1;
                            let location = ImageLocation::Stored { root: root.clone(), key };
                            let entry = ListEntry { image, location, extra: Map::new() };
                            if shard.contains(&entry.identity()) {
                                keys.push(entry);
                            }
                        }
                    }
                    Ok::<_, object_store::Error>(())
                })
                .map_err(|e| read_error(variegate_core::one_line(&e)))?;
            keys.sort_by(|a, b| a.image.cmp(&b.image));
            kept.entries.extend(keys);
        }
    } else if Path::new(list).is_dir() {
        read_folder(list, &mut kept).map_err(|e| read_error(e.to_string()))?;
    } else {
        let file = std::fs::File::open(list).map_err(|e| read_error(e.to_string()))?;
        parse_lines(list, std::io::BufReader::new(file), &mut kept)?;
    }
    if kept.listed == 0 {
        return Err(ListError::Empty { list: list.into() });
    }
    Ok(ShardList { entries: kept.entries, listed: kept.listed })
}

/// A list's entries as they are read: counted, and kept if the shard's.
struct Kept<'a> {
    shard: &'a Shard,
    entries: Vec<ListEntry>,
    listed: usize,
}

impl Kept<'_> {
    fn new(shard: &Shard) -> Kept<'_> {
        Kept { shard, entries: Vec::new(), listed: 0 }
    }
}

/// A folder's images, links to files followed; one warning names what was
/// skipped and why.
fn read_folder(list: &str, kept: &mut Kept<'_>) -> std::io::Result<()> {
    let mut skipped: Vec<String> = Vec::new();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(list)? {
        let path = entry?.path();
        let absolute = normal(&std::path::absolute(&path)?);
        // Named as listed, or, where that is not UTF-8, losslessly by its
        // file URL (which is absolute).
        let name = path.to_str().map_or_else(|| lossless(&absolute), String::from);
        // `metadata` follows links, as `ls` and an image reader do.
        match std::fs::metadata(&path) {
            Ok(metadata) if metadata.is_file() && is_image(&name) => {
                kept.listed += 1;
                let location = ImageLocation::Local(absolute);
                let entry = ListEntry { image: name, location, extra: Map::new() };
                if kept.shard.contains(&entry.identity()) {
                    names.push(entry);
                }
            }
            Ok(metadata) if metadata.is_dir() => skipped.push(format!("{name} (a folder)")),
            Ok(metadata) if metadata.is_file() => {
                skipped.push(format!("{name} (not named .png, .jpg, .jpeg or .webp)"))
            }
            Ok(_) => skipped.push(format!("{name} (not a file)")),
            Err(error) => skipped.push(format!("{name} ({error})")),
        }
    }
    if !skipped.is_empty() {
        skipped.sort();
        let more = skipped.len().saturating_sub(5);
        let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
        tracing::warn!(
            "{list}: skipped {} entries: {}{tail}",
            skipped.len(),
            skipped[..skipped.len().min(5)].join(", ")
        );
    }
    names.sort_by(|a, b| a.image.cmp(&b.image));
    kept.entries.extend(names);
    Ok(())
}

/// Just the image of a JSONL line, to place a line outside the shard
/// without building its other fields (they are checked and skipped).
#[derive(Deserialize)]
struct ImageOnly {
    image: Option<Value>,
}

/// A text or JSONL list, read line by line: JSONL when its first line that
/// says anything is an object.
fn parse_lines(list: &str, mut reader: impl BufRead, kept: &mut Kept<'_>) -> Result<(), ListError> {
    let mut jsonl = None;
    let mut buffer = Vec::new();
    for number in 1.. {
        let wrong = |reason: String| ListError::Line { list: list.into(), line: number, reason };
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|e| ListError::Read { list: list.into(), reason: e.to_string() })?;
        if read == 0 {
            break;
        }
        let mut text = std::str::from_utf8(&buffer).map_err(|_| wrong("not UTF-8 text".into()))?;
        if number == 1 {
            text = text.strip_prefix('\u{feff}').unwrap_or(text);
        }
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let jsonl = *jsonl.get_or_insert(text.starts_with('{'));
        let (image, extra) = if jsonl { json_line(text).map_err(wrong)? } else { (text.to_string(), None) };
        // A name on one line, so that every report of it is one line too.
        if let Some(c) = image.chars().find(|c| c.is_control()) {
            return Err(wrong(format!("image name contains a control character (U+{:04X})", c as u32)));
        }
        let location = locate(&image).map_err(|reason| wrong(format!("{image:?}: {reason}")))?;
        let mut entry = ListEntry { image, location, extra: Map::new() };
        kept.listed += 1;
        if kept.shard.contains(&entry.identity()) {
            if let Some(text) = extra {
                entry.extra = full_line(text);
            }
            kept.entries.push(entry);
        }
    }
    Ok(())
}

/// The image of a JSONL line, and the line again if it has other fields
/// (parsed only for the shard's lines).
fn json_line(text: &str) -> Result<(String, Option<&str>), String> {
    // serde would take a struct from an array too.
    if !text.starts_with('{') {
        return Err("not a JSON object".into());
    }
    let line: ImageOnly = serde_json::from_str(text).map_err(|error| match error.classify() {
        serde_json::error::Category::Data => "not a JSON object".to_string(),
        _ => format!("invalid JSON: {error}"),
    })?;
    match line.image {
        Some(Value::String(image)) if !image.trim().is_empty() => Ok((image.trim().to_string(), Some(text))),
        _ => Err("no \"image\" field with a path or URL".into()),
    }
}

/// A JSONL line's fields but its image; it parsed once already.
fn full_line(text: &str) -> Map<String, Value> {
    let mut object: Map<String, Value> = serde_json::from_str(text).unwrap_or_default();
    object.remove("image");
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &str, text: &str) -> Result<Vec<ListEntry>, ListError> {
        let all = Shard::all();
        let mut kept = Kept::new(&all);
        parse_lines(list, text.as_bytes(), &mut kept)?;
        Ok(kept.entries)
    }

    #[test]
    fn text_and_jsonl() {
        let text = "# photos\n\na.jpg\n  s3://bucket/in/b.png  \n# done\n";
        let entries = parse("l.txt", text).unwrap();
        assert_eq!(
            entries.iter().map(|e| e.image.as_str()).collect::<Vec<_>>(),
            ["a.jpg", "s3://bucket/in/b.png"]
        );
        let jsonl = "{\"image\": \"a.jpg\", \"id\": 7, \"tags\": [\"x\"]}\n\n{\"image\": \"b.jpg\"}\n";
        let entries = parse("l.jsonl", jsonl).unwrap();
        assert_eq!(entries[0].image, "a.jpg");
        assert_eq!(entries[0].extra["id"], 7);
        assert!(entries[1].extra.is_empty());
        let error = parse("l.jsonl", "{\"image\": \"a.jpg\"}\n{\"id\": 3}\n").unwrap_err();
        assert_eq!(error.to_string(), "l.jsonl: line 2: no \"image\" field with a path or URL");
        let error = parse("l.jsonl", "{\"image\": \"a.jpg\"}\n[3]\n").unwrap_err();
        assert_eq!(error.to_string(), "l.jsonl: line 2: not a JSON object");
        let error = parse("l.jsonl", "{\"image\": \"b.p\\ng\"}\n").unwrap_err();
        assert_eq!(error.to_string(), "l.jsonl: line 1: image name contains a control character (U+000A)");
        let error = parse("l.txt", "a.jpg\nb\u{0}.jpg\n").unwrap_err();
        assert_eq!(error.to_string(), "l.txt: line 2: image name contains a control character (U+0000)");
        let error = parse("l.jsonl", "{\"image\": \"a.jpg\"}\n{oops\n").unwrap_err();
        assert!(error.to_string().starts_with("l.jsonl: line 2: invalid JSON: "), "{error}");
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_naming_its_line() {
        let all = Shard::all();
        let error =
            parse_lines("l.txt", &b"a.jpg\nb.jpg\nc\xff.jpg\n"[..], &mut Kept::new(&all)).unwrap_err();
        assert_eq!(error.to_string(), "l.txt: line 3: not UTF-8 text");
        assert_eq!(parse("l.txt", "\u{feff}a.jpg\n").unwrap()[0].image, "a.jpg");
    }

    #[test]
    fn one_image_one_identity() {
        let cwd = std::env::current_dir().unwrap();
        let absolute = cwd.join("a.png").to_string_lossy().into_owned();
        let url = Url::from_file_path(&absolute).unwrap().to_string();
        for written in ["a.png", "./a.png", ".//a.png", "x/../a.png", absolute.as_str(), url.as_str()] {
            assert_eq!(ListEntry::new(written).unwrap().identity(), absolute, "{written}");
        }
        // Keys are percent-decoded from URLs, and kept as listed.
        let entry = ListEntry::new("s3://bucket/in/50%25%20off%23.png").unwrap();
        assert_eq!(entry.identity(), "s3://bucket/in/50% off#.png");
    }

    #[test]
    fn names_and_urls() {
        assert!(is_image("x/A.JPG") && is_image("b.webp") && !is_image("notes.txt"));
        assert!(store_url("s3://bucket/in/").is_some() && store_url("file:///tmp/x").is_none());
        assert!(store_url("photos/a.jpg").is_none());
    }
}
