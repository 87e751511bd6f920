//! ONNX's own backend node tests (shipped in the onnx PyPI package) for the quantization and
//! ai.onnx.ml ops, run natively through our rewrites and tract.
//!
//! `scripts/setup.sh` installs onnx into target/onnx-venv; `ONNX_NODE_TESTS` may point elsewhere.
//! tests/conformance-passing.txt is the ratchet: every test named there must pass.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use tract_onnx::prelude::*;

const FAMILIES: &[&str] = &[
    "test_quantizelinear",
    "test_dequantizelinear",
    "test_dynamicquantizelinear",
    "test_qlinearmatmul",
    "test_qlinearconv",
    "test_matmulinteger",
    "test_convinteger",
    "test_ai_onnx_ml_",
];

/// Tests whose reference outputs are wrong: int8 results that wrap around (-236 stored as 20)
/// where the spec saturates to -128, as onnxruntime and we do.
const ERRATA: &[&str] = &[
    "test_qlinearmatmul_2D_int8_float16",
    "test_qlinearmatmul_2D_int8_float32",
    "test_qlinearmatmul_3D_int8_float16",
    "test_qlinearmatmul_3D_int8_float32",
];

fn node_tests_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("ONNX_NODE_TESTS") {
        return dir.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/onnx-venv/lib");
    let found = std::fs::read_dir(&venv)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok());
    match found {
        Some(python) => python.path().join("site-packages/onnx/backend/test/data/node"),
        None => panic!("onnx's node tests are not installed: run scripts/setup.sh --for-tests or set ONNX_NODE_TESTS"),
    }
}

fn read_tensor(path: &Path) -> TractResult<Tensor> {
    let proto = tract_onnx::tensor::proto_from_reader(std::fs::File::open(path)?)?;
    tract_onnx::tensor::load_tensor(&*tract_onnx::data_resolver::default(), &proto, None)
}

fn data_files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    files.sort_by_key(|p| {
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        name.rsplit('_').next().unwrap().parse::<usize>().unwrap_or(0)
    });
    files
}

fn close(got: &Tensor, want: &Tensor) -> TractResult<bool> {
    if got.shape() != want.shape() {
        return Ok(false);
    }
    let got = got.cast_to::<f64>()?;
    let want = want.cast_to::<f64>()?;
    let (got, want) = (got.to_plain_array_view::<f64>()?, want.to_plain_array_view::<f64>()?);
    Ok(got
        .iter()
        .zip(want.iter())
        .all(|(g, w)| (g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-4 * (1.0 + w.abs())))
}

fn run_node_test(dir: &Path) -> TractResult<bool> {
    let bytes = std::fs::read(dir.join("model.onnx"))?;
    let mut onnx = tract_onnx::onnx();
    wasm_predict::ops::register(&mut onnx);
    let mut proto = onnx.proto_model_for_read(&mut std::io::Cursor::new(bytes))?;
    wasm_predict::lowering::lower(&mut proto).map_err(|e| anyhow::anyhow!("{e}"))?;
    let data = dir.join("test_data_set_0");
    let inputs: Vec<Tensor> = data_files(&data, "input_")
        .iter()
        .map(|p| read_tensor(p))
        .collect::<TractResult<_>>()?;
    let expected: Vec<Tensor> = data_files(&data, "output_")
        .iter()
        .map(|p| read_tensor(p))
        .collect::<TractResult<_>>()?;
    let mut model = onnx.model_for_proto_model(&proto)?;
    for (i, t) in inputs.iter().enumerate() {
        model = model.with_input_fact(i, InferenceFact::dt_shape(t.datum_type(), t.shape()))?;
    }
    let plan = model.into_optimized()?.into_runnable()?;
    let outputs = plan.run(inputs.into_iter().map(|t| t.into()).collect())?;
    if outputs.len() != expected.len() {
        return Ok(false);
    }
    for (got, want) in outputs.iter().zip(&expected) {
        if !close(got, want)? {
            return Ok(false);
        }
    }
    Ok(true)
}

#[test]
fn onnx_node_tests_for_quantization_and_ml_ops() {
    let root = node_tests_dir();
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{root:?}: {e}"))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| FAMILIES.iter().any(|f| n.starts_with(f)))
        .collect();
    names.sort();
    assert!(names.len() >= 45, "{} node tests found in {root:?}", names.len());
    let mut passing = vec![];
    for name in &names {
        let dir = root.join(name);
        // A panic inside tract is counted as a failure of that test, not of the run.
        let outcome = std::panic::catch_unwind(|| run_node_test(&dir));
        let verdict = match outcome {
            Ok(Ok(true)) => "pass",
            Ok(Ok(false)) if ERRATA.contains(&name.as_str()) => "errata (reference wraps)",
            Ok(Ok(false)) => "FAIL (wrong output)",
            Ok(Err(e)) => {
                println!("    {}", format!("{e:#}").chars().take(200).collect::<String>());
                "FAIL (refused)"
            }
            Err(_) => "FAIL (panicked in tract)",
        };
        println!("{verdict:26} {name}");
        if verdict == "pass" {
            passing.push(name.clone());
        }
    }
    println!("onnx node tests: {} of {} pass", passing.len(), names.len());
    let ratchet =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance-passing.txt")).unwrap();
    let lost: Vec<&str> = ratchet
        .lines()
        .filter(|l| !l.is_empty() && !passing.iter().any(|p| p == l))
        .collect();
    assert!(lost.is_empty(), "node tests that passed before and fail now: {lost:?}");
}
