//! The checked-in `src/generated.rs` is what `codegen` makes of `model/service-2.json`:
//! CI's check that the operation table and input types match the model.
//! `TRENT_UPDATE_GENERATED=1 cargo test -p trent-model --test generated` rewrites it.

use std::path::Path;

#[test]
fn generated_rs_matches_the_model() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = std::fs::read_to_string(root.join("../../model/service-2.json")).unwrap();
    let expected = trent_model::codegen::generate(&model).unwrap();
    let path = root.join("src/generated.rs");
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if std::env::var_os("TRENT_UPDATE_GENERATED").is_some_and(|v| v == "1") {
        if current != expected {
            std::fs::write(&path, &expected).unwrap();
            eprintln!("rewrote {}", path.display());
        }
        return;
    }
    if current != expected {
        let line = current
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| current.lines().count().min(expected.lines().count()));
        panic!(
            "src/generated.rs is not what the model generates (first difference at line {}); \
             run: TRENT_UPDATE_GENERATED=1 cargo test -p trent-model --test generated",
            line + 1
        );
    }
}
