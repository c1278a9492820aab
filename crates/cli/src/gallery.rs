//! `--gallery FILE.html`: a web page of the run, no JavaScript: the
//! original, then each stored variation over its palette's swatches, as an
//! `<img srcset>` over its stored sizes (`--sizes`) so that a browser picks
//! the file the layout asks for. Links are relative from the page's folder
//! for a local store (the page moves with the folder), the stored files'
//! own links (presigned for `--url-ttl`, or public) for a cloud store.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use variegate_store::{Manifest, Outcome, Status, Store};

/// The layout's columns, as CSS and as the `sizes` attribute that tells the
/// browser how wide each picture is drawn before it loads any: one column
/// up to 700 pixels, two up to 1400, three beyond.
const STYLE: &str = "body{font:16px/1.4 system-ui,sans-serif;margin:1rem;background:#fafafa;color:#222}\
main{display:grid;gap:1rem;grid-template-columns:1fr}\
@media (min-width:701px){main{grid-template-columns:repeat(2,1fr)}}\
@media (min-width:1401px){main{grid-template-columns:repeat(3,1fr)}}\
figure{margin:0}img{width:100%;height:auto;display:block;background:#ddd}\
.swatches{display:flex;height:1.5rem;margin-top:.25rem}.swatches span{flex:1}\
figcaption{margin-top:.25rem}small{color:#666}";
const SIZES: &str = "(max-width: 700px) 100vw, (max-width: 1400px) 50vw, 33vw";

/// The page of `manifest`, written to be read from `page_folder`;
/// `image` is the original's path.
pub fn gallery_html(manifest: &Manifest, store: &Store, image: &Path, page_folder: &Path) -> String {
    // Presigned links carry `&`: every link is escaped for its attribute.
    let link = |key: &str, url: Option<&str>| match store.local_root() {
        Some(root) => relative_href(page_folder, &root.join(key)),
        None => url.map(escape),
    };
    let source = &manifest.source;
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}: {count} variations</title>\n<style>{STYLE}</style>\n\
         <h1>{title}</h1>\n<p><small>{look} look, {format}; {folder}</small></p>\n<main>\n",
        title = escape(&source.stem),
        count = manifest.variations.len(),
        look = escape(&manifest.recipe.look),
        format = escape(manifest.recipe.format.name()),
        folder = escape(&store.location_of(&manifest.folder)),
    );
    if let Some(href) = relative_href(page_folder, image) {
        let _ = writeln!(
            page,
            "<figure><img src=\"{href}\" width=\"{w}\" height=\"{h}\" alt=\"the original\">\
             <figcaption>the original <small>{w}x{h}</small></figcaption></figure>",
            w = source.width,
            h = source.height,
        );
    }
    for outcome in &manifest.variations {
        page.push_str(&figure(outcome, &link));
    }
    page.push_str("</main>\n</html>\n");
    page
}

/// One variation: its picture, its palette's swatches and name; its error
/// where it was not stored.
fn figure(outcome: &Outcome, link: &dyn Fn(&str, Option<&str>) -> Option<String>) -> String {
    let name = escape(&outcome.palette.name);
    let swatches: String = outcome
        .palette
        .colors
        .iter()
        .map(|colour| format!("<span style=\"background:{colour}\" title=\"{colour}\"></span>"))
        .collect();
    let description = outcome.palette.description.as_deref().map(escape).unwrap_or_default();
    let caption = format!(
        "<div class=\"swatches\">{swatches}</div><figcaption>{name} <small>{description}</small></figcaption>"
    );
    let picture = match (&outcome.key, outcome.status) {
        (Some(key), Status::Stored) => link(key, outcome.url.as_deref()).map(|src| {
            let stored: Vec<String> = outcome
                .sizes
                .iter()
                .filter(|size| size.error.is_none())
                .filter_map(|size| Some(format!("{} {}w", link(&size.key, size.url.as_deref())?, size.width)))
                .collect();
            let srcset = match stored.is_empty() {
                true => String::new(),
                false => format!(" srcset=\"{}\" sizes=\"{SIZES}\"", stored.join(", ")),
            };
            format!(
                "<img src=\"{src}\"{srcset} width=\"{}\" height=\"{}\" alt=\"{name}\">",
                outcome.width.unwrap_or_default(),
                outcome.height.unwrap_or_default(),
            )
        }),
        _ => None,
    };
    let picture = picture.unwrap_or_else(|| {
        let why = outcome.error.as_ref().map_or_else(|| "not stored".to_string(), |error| error.to_string());
        format!("<p><small>not shown: {}</small></p>", escape(&why))
    });
    format!("<figure>{picture}{caption}</figure>\n")
}

/// `target` as a link from `folder`: relative, each part percent-encoded;
/// `None` where it cannot be made (a path that does not exist).
fn relative_href(folder: &Path, target: &Path) -> Option<String> {
    let (folder, target) = (folder.canonicalize().ok()?, target.canonicalize().ok()?);
    let (from, to): (Vec<Component>, Vec<Component>) =
        (folder.components().collect(), target.components().collect());
    let shared = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); from.len() - shared];
    parts.extend(to[shared..].iter().map(|part| percent_encode(part.as_os_str().as_encoded_bytes())));
    Some(parts.join("/"))
}

/// Bytes outside URLs' unreserved characters as `%XX`: a name is bytes, and
/// any of them (a space, `#`, `?`, `%`, one that is not UTF-8) stays itself.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &byte in bytes {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(byte as char),
            _ => {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
    out
}

/// Text for HTML, in an element or an attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The folder a page at `path` is read from: its own, or the working
/// folder for a page written through to a stream (`/dev/stdout`).
pub fn page_folder(path: &Path) -> PathBuf {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match path.starts_with("/dev") || path.starts_with("/proc") {
        true => PathBuf::from("."),
        false => parent.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_and_encoded() {
        let dir = tempfile::tempdir().unwrap();
        let (page, file) = (dir.path().join("site"), dir.path().join("store/a b#?.png"));
        std::fs::create_dir_all(&page).unwrap();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"").unwrap();
        assert_eq!(relative_href(&page, &file).as_deref(), Some("../store/a%20b%23%3F.png"));
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
