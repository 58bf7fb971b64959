//! Rebuilds the crate when a migration changes (so `embed_migrations!` picks it up) and
//! exposes a fingerprint of the migrations, which names the test template database: a
//! changed migration gets a freshly migrated template instead of a stale one.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

fn main() {
    let joined = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
    // Cargo compares paths literally: give it the canonical one.
    let dir = joined.canonicalize().unwrap_or(joined);
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    collect(&dir, &mut files);
    files.sort();
    let mut hasher = DefaultHasher::new();
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        path.strip_prefix(&dir).unwrap_or(path).hash(&mut hasher);
        std::fs::read(path).unwrap_or_default().hash(&mut hasher);
    }
    println!(
        "cargo:rustc-env=OMNI_MIGRATIONS_FINGERPRINT={:016x}",
        hasher.finish()
    );
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}
