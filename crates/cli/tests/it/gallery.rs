//! `--gallery`: a run's web page. Every link in it resolves to a stored file
//! (checked from the page's text), and in a real browser (Debian's headless
//! Chromium: `VARIEGATE_REQUIRE_BROWSER=1` makes its absence a failure)
//! every picture loads and each `<img srcset>` gives the size the viewport
//! asks for.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{run_photo, stderr};

/// Every `src` and each `srcset` candidate of the page, per `<img>`.
fn images(page: &str) -> Vec<(String, Vec<String>)> {
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        tag[start..].split('"').next().map(str::to_string)
    };
    page.split("<img ")
        .skip(1)
        .map(|tag| {
            let tag = format!(" {}", tag.split('>').next().unwrap());
            let tag = tag.as_str();
            let srcset = attribute(tag, "srcset").unwrap_or_default();
            let candidates = srcset
                .split(", ")
                .filter(|c| !c.is_empty())
                .map(|c| c.split(' ').next().unwrap().to_string())
                .collect();
            (attribute(tag, "src").unwrap(), candidates)
        })
        .collect()
}

fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .map(PathBuf::from)
        .into_iter()
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("VARIEGATE_REQUIRE_BROWSER").is_none(),
            "no Chromium here (apt-get install chromium)"
        );
        eprintln!("skipped: no Chromium here (apt-get install chromium)");
    }
    found
}

/// What the browser made of each picture of `page` in a window `width`
/// pixels wide at `scale` device pixels a CSS pixel: the file each shows
/// and its natural width (0: it did not load). The page has no script;
/// the test's copy of it gets one that writes this down for `--dump-dom`.
fn in_browser(browser: &Path, page: &Path, width: u32, scale: u32) -> Vec<(String, u64)> {
    let probe = page.with_file_name("probe.html");
    let script = "<script>addEventListener('load', () => document.body.setAttribute('data-probe', \
                  JSON.stringify([...document.images].map(i => [i.currentSrc.split('/').pop(), i.naturalWidth]))))\
                  </script>";
    std::fs::write(
        &probe,
        std::fs::read_to_string(page).unwrap().replace("</html>", &format!("{script}</html>")),
    )
    .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let output = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},900"))
        .arg(format!("--force-device-scale-factor={scale}"))
        .args(["--virtual-time-budget=20000", "--dump-dom"])
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&output.stdout);
    let probe = dom.split("data-probe=\"").nth(1).and_then(|rest| rest.split('"').next());
    let probe = probe.unwrap_or_else(|| panic!("no probe in the page: {dom:.300} {}", stderr(&output)));
    let seen: Vec<(String, u64)> = serde_json::from_str(&probe.replace("&quot;", "\"")).unwrap();
    seen
}

#[test]
fn a_gallery_links_every_stored_size_and_a_browser_picks_what_the_viewport_asks() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("site")).unwrap();
    let args =
        ["--format", "webp", "--sizes", "480,960,1920", "--out", "store", "--gallery", "site/index.html"];
    let output = run_photo("retina.jpg", &args, dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let page_path = dir.path().join("site/index.html");
    let page = std::fs::read_to_string(&page_path).unwrap();
    assert!(!page.contains("<script"), "no JavaScript");
    let images = images(&page);
    assert_eq!(images.len(), 8, "the original and 7 variations");
    for (src, srcset) in &images {
        for link in std::iter::once(src).chain(srcset) {
            assert!(dir.path().join("site").join(link).is_file(), "{link} leads nowhere");
        }
    }
    let sides = |srcset: &[String]| -> Vec<String> {
        srcset.iter().map(|c| c.rsplit('-').next().unwrap().trim_end_matches(".webp").to_string()).collect()
    };
    assert!(images[1..].iter().all(|(_, srcset)| sides(srcset) == ["480", "960", "1411"]));

    let Some(browser) = chromium() else { return };
    // One column up to 700 CSS pixels, two to 1400, three beyond; the
    // smallest file at least as wide as its picture in device pixels
    // (headless windows are at least 500 pixels wide).
    for (width, scale, side) in [(900, 1, "480"), (600, 1, "960"), (1000, 2, "1411"), (2000, 1, "960")] {
        let seen = in_browser(&browser, &page_path, width, scale);
        assert_eq!(seen.len(), 8);
        assert_eq!(seen[0], ("retina.jpg".to_string(), 1411), "the original loads");
        for (file, loaded) in &seen[1..] {
            assert!(file.ends_with(&format!("-{side}.webp")), "{width}px at {scale}x: {file}");
            // (A srcset picture's natural width is its slot's: the file's
            // width over its density.)
            assert!(*loaded > 0, "{file} did not load");
        }
    }
}

#[test]
fn a_gallery_is_a_web_page_and_needs_links_a_browser_can_load() {
    let dir = tempfile::tempdir().unwrap();
    for (args, said) in [
        (&["--gallery", "page.png"][..], "error: --gallery is a web page: name it .html, not .png"),
        (
            &["--gallery", "page.html", "--out", "memory://"],
            "error: --gallery needs a folder or a cloud store",
        ),
        (&["--gallery", "nowhere/page.html"], "error: --gallery nowhere/page.html: cannot write there"),
    ] {
        let output = run_photo("coffee.png", args, dir.path());
        assert!(stderr(&output).contains(said), "{args:?}: {}", stderr(&output));
        assert_ne!(output.status.code(), Some(0));
    }
}

/// The README's page example is what its command makes today.
#[test]
fn the_readmes_gallery_example_is_what_its_command_makes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let command = readme.lines().find(|line| line.starts_with("variegate run testdata/retina.jpg")).unwrap();
    let html = &readme[readme.find("```html\n").unwrap() + 8..];
    let shown = html[..html.find("```").unwrap()].split_whitespace().collect::<Vec<_>>().join(" ");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("testdata")).unwrap();
    for file in ["retina.jpg", "palettes.json"] {
        std::fs::copy(root.join("testdata").join(file), dir.path().join("testdata").join(file)).unwrap();
    }
    let args: Vec<&str> = command.split(' ').skip(1).chain(["-q"]).collect();
    let output = Command::new(crate::common::BIN).args(&args).current_dir(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let page = std::fs::read_to_string(dir.path().join("retina.html")).unwrap();
    assert!(page.contains(&shown), "the README shows {shown}; the page has another");
}
