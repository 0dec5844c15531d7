//! Embeds the web UI into the binary: every file of `web/dist` (made by
//! `npm run build` in `web/`, which `make build`, `make run` and `make test`
//! do first) becomes a `(path, bytes)` entry of `WEB_FILES` in
//! `$OUT_DIR/web_assets.rs`. Without `web/dist` the list is empty and the
//! server answers the UI's pages with a page that says how to build it, so
//! cargo-only workflows keep working.

use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let web = manifest_dir.join("../web");
    let dist = web.join("dist");
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
        // A change anywhere in dist, its removal included, runs this again.
        println!("cargo:rerun-if-changed={}", dist.display());
    } else {
        // Watching a missing path would rerun this (and rebuild the crate) on
        // every build; web/ exists and changes when dist appears in it.
        println!("cargo:rerun-if-changed={}", web.display());
    }
    files.sort();

    let mut code = String::from("/// The files of web/dist: path relative to it, contents.\n");
    code.push_str("pub static WEB_FILES: &[(&str, &[u8])] = &[\n");
    for (relative, absolute) in &files {
        code.push_str(&format!(
            "    ({relative:?}, include_bytes!({:?})),\n",
            absolute.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("web_assets.rs");
    std::fs::write(&out, code).expect("write web_assets.rs");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let relative =
                relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            let absolute = path.canonicalize().unwrap_or(path);
            files.push((relative, absolute));
        }
    }
}
