//! The differential corpus (tests/corpus, made by make_corpus.py): models as scikit-learn users
//! and onnxruntime's quantizer make them, run by our predictor against onnxruntime's outputs.
//!
//! Every case either matches onnxruntime (same label on >= 99.5% of rows, outputs within the
//! case's tolerance) or is refused at load with a node-by-node report; never a panic, never a
//! wrong answer. `SUPPORTED` is the ratchet: a case in it must match, and it may only grow.

#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/corpus.rs"]
mod corpus;

use corpus::{run_case, run_case_from_plan, Outcome, SUPPORTED};

#[test]
fn the_corpus_matches_onnxruntime_or_is_refused_clearly() {
    let mut names: Vec<String> = std::fs::read_dir(format!("{}/tests/corpus", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("case.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 31, "{names:?}");
    let mut matched = 0;
    let (mut from_plans, mut no_plan) = (0, vec![]);
    let mut failures = vec![];
    for name in &names {
        let dir = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
        let outcome = run_case(
            &std::fs::read(format!("{dir}/case.json")).unwrap(),
            &std::fs::read(format!("{dir}/model.onnx")).unwrap(),
        );
        match &outcome {
            Outcome::Match {
                worst,
                agreement,
                on_tract,
            } => {
                matched += 1;
                assert!(on_tract.is_some() || wasm_predict::predictor::COMPILED_PLANS, "{name}");
                println!(
                    "MATCH    {name:32} max |diff| {worst:.1e}, same label {:.1}%",
                    agreement * 100.0
                );
            }
            Outcome::Mismatch(why) => println!("MISMATCH {name:32} {why}"),
            Outcome::Refused(why) => println!("REFUSED  {name:32} {}", why.chars().take(300).collect::<String>()),
        }
        // The plan file a bundle of the case carries gives the same answers, wherever the
        // runtime can run the graph.
        match run_case_from_plan(
            &std::fs::read(format!("{dir}/case.json")).unwrap(),
            &std::fs::read(format!("{dir}/model.onnx")).unwrap(),
        ) {
            Outcome::Match { worst, .. } => {
                from_plans += 1;
                println!("PLAN     {name:32} max |diff| {worst:.1e}");
            }
            Outcome::Mismatch(why) => failures.push(format!("{name}: from its plan file: {why}")),
            Outcome::Refused(why) => {
                println!("NO PLAN  {name:32} {}", why.chars().take(300).collect::<String>());
                if matches!(outcome, Outcome::Match { .. }) {
                    no_plan.push(name.clone());
                }
            }
        }
        let supported = SUPPORTED.contains(&name.as_str());
        match outcome {
            Outcome::Match { .. } => {}
            Outcome::Mismatch(why) => failures.push(format!("{name}: a wrong answer is never acceptable: {why}")),
            Outcome::Refused(why) if supported => {
                failures.push(format!("{name} is in SUPPORTED but was refused: {why}"))
            }
            Outcome::Refused(why) => assert!(
                why.starts_with("MODEL_UNSUPPORTED") || why.starts_with("GRAPH_MISMATCH"),
                "{name}: {why}"
            ),
        }
    }
    println!("corpus: {matched} of {} cases match onnxruntime", names.len());
    println!("{from_plans} match from their plan file; supported but without a plan: {no_plan:?}");
    assert!(failures.is_empty(), "{failures:#?}");
    // f64 values are beyond the runtime (its plans are f32): those graphs need model.onnx.
    assert_eq!(no_plan, ["tree-v3-double-thresholds"]);
    assert!(matched >= SUPPORTED.len());
}

#[test]
fn quantized_graphs_are_lowered_to_float_ops() {
    use prost::Message;
    let ops_lowered_with = |name: &str, integer_products: bool| -> Vec<String> {
        let bytes = std::fs::read(format!("{}/tests/corpus/{name}/model.onnx", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mut proto = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
        wasm_predict::lowering::lower_with(&mut proto, integer_products).unwrap();
        proto.graph.unwrap().node.into_iter().map(|n| n.op_type).collect()
    };
    let ops_after_lowering = |name: &str| ops_lowered_with(name, wasm_predict::lowering::OWN_PRODUCTS);
    let dense = |ops: &[String]| {
        ops.iter()
            .filter(|o| *o == wasm_predict::ops::quantized_dense::QUANTIZED_DENSE)
            .count()
    };
    for name in ["mlp-dynamic", "cnn-dynamic", "ops-dynamic"] {
        let ops = ops_after_lowering(name);
        assert!(
            ops.iter()
                .any(|o| o == wasm_predict::ops::fake_quantize::DYNAMIC_FAKE_QUANTIZE)
                || dense(&ops) > 0,
            "{name}: {ops:?}"
        );
        assert!(
            !ops.iter()
                .any(|o| o.ends_with("Integer") || o == "DynamicQuantizeLinear"),
            "{name}: {ops:?}"
        );
    }
    for name in [
        "mlp-qdq-u8",
        "cnn-qdq-s8",
        "mlp-qoperator",
        "cnn-qoperator",
        "ops-qoperator",
    ] {
        let ops = ops_after_lowering(name);
        assert!(
            ops.iter().any(|o| o == wasm_predict::ops::fake_quantize::FAKE_QUANTIZE) || dense(&ops) > 0,
            "{name}: {ops:?}"
        );
        assert!(
            !ops.iter().any(|o| o.starts_with("QLinear") || o == "QGemm"),
            "{name}: {ops:?}"
        );
    }
    // With integer products (wasm's default), every product of a quantized activation by an int8
    // weight runs in integers: both Gemms of each MLP, the Gemm after each CNN's MaxPool (its
    // rounding moved past MaxPool and Flatten).
    for (name, products) in [
        ("mlp-qdq-u8", 2),
        ("mlp-qdq-s8", 2),
        ("mlp-qoperator", 2),
        ("mlp-dynamic", 2),
        ("cnn-qdq-u8", 1),
        ("cnn-qdq-s8", 1),
        ("cnn-qoperator", 1),
        ("cnn-dynamic", 1),
    ] {
        let ops = ops_lowered_with(name, true);
        assert_eq!(dense(&ops), products, "{name}: {ops:?}");
        assert!(!ops.iter().any(|o| o == "Gemm" || o == "MatMul"), "{name}: {ops:?}");
    }
    // The statically quantized classifiers round their logits: their Softmax reads a table.
    for name in [
        "mlp-qdq-u8",
        "mlp-qdq-s8",
        "mlp-qoperator",
        "cnn-qdq-u8",
        "cnn-qdq-s8",
        "cnn-qoperator",
    ] {
        let ops = ops_after_lowering(name);
        let softmaxes = ops
            .iter()
            .filter(|o| *o == wasm_predict::ops::quantized_softmax::QUANTIZED_SOFTMAX)
            .count();
        assert_eq!(softmaxes, 1, "{name}: {ops:?}");
        assert!(!ops.iter().any(|o| o == "Softmax"), "{name}: {ops:?}");
    }
}

/// A model of the repository, lowered as the predictor lowers it (keeping only `output`, if given).
fn lowered(path: &str, output: Option<&str>) -> tract_onnx::pb::ModelProto {
    use prost::Message;
    let bytes = std::fs::read(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut proto = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
    if let Some(output) = output {
        wasm_predict::lowering::keep_outputs(&mut proto, &[output]).unwrap();
    }
    wasm_predict::lowering::lower(&mut proto).unwrap();
    proto
}

fn fake_quantizes(proto: &tract_onnx::pb::ModelProto) -> usize {
    let nodes = &proto.graph.as_ref().unwrap().node;
    nodes
        .iter()
        .filter(|n| n.op_type == wasm_predict::ops::fake_quantize::FAKE_QUANTIZE)
        .count()
}

#[test]
fn the_input_rounding_leaves_the_graph_and_keeps_the_answers() {
    // The QDQ CNN quantizes its image for the Conv (the MLPs' input roundings go into their first
    // integer product instead).
    let mut proto = lowered("tests/corpus/cnn-qdq-u8/model.onnx", Some("probabilities"));
    let before = fake_quantizes(&proto);
    let op = wasm_predict::lowering::take_input_quantization(&mut proto).expect("the input's rounding");
    assert_eq!(fake_quantizes(&proto), before - 1);
    let mut row = vec![0.26, 0.74, 3.9, -1.0];
    op.apply(&mut row);
    assert!(row.iter().all(|v| v.is_finite()));
    // A float model has nothing to take; taking twice finds nothing more at the input.
    let mut float = lowered("tests/corpus/cnn-float/model.onnx", None);
    assert!(wasm_predict::lowering::take_input_quantization(&mut float).is_none());
    assert!(wasm_predict::lowering::take_input_quantization(&mut proto).is_none());
    // The predictor takes it out too, and still gives the fixtures' answers (onnxruntime's).
    let dir = format!("{}/models/digits-mlp-qdq/1.0.0", env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read(format!("{dir}/manifest.json")).unwrap();
    let model = std::fs::read(format!("{dir}/model.onnx")).unwrap();
    let mut predictor = wasm_predict::Predictor::load(&manifest, &model).unwrap();
    assert!(wasm_predict::verify(&mut predictor).unwrap().passed);
}

#[test]
fn the_output_rounding_leaves_the_graph() {
    let mut proto = lowered("tests/corpus/mlp-qdq-u8/model.onnx", Some("probabilities"));
    let before = fake_quantizes(&proto);
    // The quantized Softmax's output is rounded to its uint8 grid: calibrated on [0, 1], a step of 1/255.
    let op = wasm_predict::lowering::take_output_quantization(&mut proto).expect("the output's rounding");
    assert_eq!(fake_quantizes(&proto), before - 1);
    let mut values = vec![0.5, 0.3, 0.2];
    op.apply(&mut values);
    assert!(
        values.iter().all(|v| (v * 255.0 - (v * 255.0).round()).abs() < 1e-3),
        "{values:?}"
    );
    assert!((values[0] - 127.0 / 255.0).abs() < 1e-6, "{values:?}");
    assert!(wasm_predict::lowering::take_output_quantization(&mut proto).is_none());
    // A float model has none. (The corpus test checks the answers of every quantized model.)
    let mut float = lowered("tests/corpus/mlp-float/model.onnx", Some("probabilities"));
    assert!(wasm_predict::lowering::take_output_quantization(&mut float).is_none());
}

#[test]
fn activation_roundings_move_past_max_pool_and_flatten_onto_fewer_values() {
    // Rounding is non-decreasing, so it commutes with MaxPool and with reshapes: after MaxPool
    // it rounds a quarter of the values, right before the Gemm that reads them.
    for name in ["cnn-qdq-u8", "cnn-qdq-s8", "cnn-qoperator"] {
        let proto = lowered(&format!("tests/corpus/{name}/model.onnx"), Some("probabilities"));
        let nodes = &proto.graph.as_ref().unwrap().node;
        let producer = |tensor: &str| nodes.iter().find(|n| n.output.first().is_some_and(|o| o == tensor));
        let op_of = |tensor: &str| producer(tensor).map(|n| n.op_type.clone()).unwrap_or_default();
        let pool = nodes.iter().find(|n| n.op_type == "MaxPool").expect("a MaxPool");
        assert_ne!(
            op_of(&pool.input[0]),
            wasm_predict::ops::fake_quantize::FAKE_QUANTIZE,
            "{name}"
        );
        let gemm = nodes.iter().find(|n| n.op_type == "Gemm").expect("a Gemm");
        assert_eq!(
            op_of(&gemm.input[0]),
            wasm_predict::ops::fake_quantize::FAKE_QUANTIZE,
            "{name}"
        );
    }
}

/// Multi-target ensembles (tests/corpus-extra, made by make_tree_corpus.py), whose `[rows,
/// targets]` output the predictor's one-value regression does not take: run through tract with
/// our ops, against onnxruntime's outputs.
#[test]
fn multi_target_tree_ensembles_match_onnxruntime() {
    use tract_onnx::prelude::*;
    #[derive(serde::Deserialize)]
    struct Extra {
        n_targets: usize,
        inputs: Vec<Vec<Option<f32>>>,
        expected: Vec<Vec<f32>>,
    }
    for name in ["tree-v3-multi-target", "tree-v5-multi-target"] {
        let dir = format!("{}/tests/corpus-extra/{name}", env!("CARGO_MANIFEST_DIR"));
        let case: Extra = serde_json::from_slice(&std::fs::read(format!("{dir}/outputs.json")).unwrap()).unwrap();
        let mut onnx = tract_onnx::onnx();
        wasm_predict::ops::register(&mut onnx);
        let (rows, width) = (case.inputs.len(), case.inputs[0].len());
        let flat: Vec<f32> = case.inputs.iter().flatten().map(|v| v.unwrap_or(f32::NAN)).collect();
        let plan = onnx
            .model_for_path(format!("{dir}/model.onnx"))
            .unwrap()
            .with_input_fact(0, f32::fact([rows, width]).into())
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let input = tract_ndarray::Array2::from_shape_vec((rows, width), flat).unwrap();
        let output = plan.run(tvec!(input.into_tensor().into())).unwrap();
        let got = output[0].to_plain_array_view::<f32>().unwrap();
        assert_eq!(got.shape(), &[rows, case.n_targets], "{name}");
        for (r, want) in case.expected.iter().enumerate() {
            for (t, w) in want.iter().enumerate() {
                let g = got[[r, t]];
                assert!(
                    (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "{name} row {r} target {t}: {g} against {w}"
                );
            }
        }
    }
}

/// Every corpus case lowered as in wasm (our integer and float product kernels fused in), run
/// natively through their portable paths: the fusions give onnxruntime's outputs on every graph,
/// not only where the browser test sees them.
#[test]
fn the_corpus_matches_onnxruntime_with_our_product_kernels_fused() {
    use prost::Message;
    use tract_onnx::prelude::*;
    let mut onnx = tract_onnx::onnx();
    wasm_predict::ops::register(&mut onnx);
    let mut fused = 0;
    let (mut convolutions, mut convolutions_left) = (0, vec![]);
    let (mut compiled, mut not_compiled) = (0, vec![]);
    for (name, case, model) in corpus::CORPUS {
        let case: corpus::Case = serde_json::from_slice(case).unwrap();
        if case.records.is_some() {
            // Their rows go through the predictor's merge of the inputs (the corpus test above).
            continue;
        }
        let mut proto = tract_onnx::pb::ModelProto::decode(*model).unwrap();
        wasm_predict::lowering::keep_outputs(&mut proto, &[&case.output]).unwrap();
        wasm_predict::lowering::lower_with(&mut proto, true).unwrap();
        let ops: Vec<&str> = proto
            .graph
            .iter()
            .flat_map(|g| &g.node)
            .map(|n| n.op_type.as_str())
            .collect();
        fused += ops
            .iter()
            .filter(|o| {
                [
                    wasm_predict::ops::float_dense::FLOAT_DENSE,
                    wasm_predict::ops::quantized_dense::QUANTIZED_DENSE,
                ]
                .contains(*o)
            })
            .count();
        let conv = |o: &&&str| **o == wasm_predict::ops::float_conv::FLOAT_CONV;
        convolutions += ops.iter().filter(conv).count();
        if ops.contains(&"Conv") {
            convolutions_left.push(name.to_string());
        }
        let row: Vec<usize> = match &case.features {
            serde_json::Value::Number(n) => vec![n.as_u64().unwrap() as usize],
            other => serde_json::from_value(other.clone()).unwrap(),
        };
        let rows = case.inputs.len();
        let shape: Vec<usize> = std::iter::once(rows).chain(row).collect();
        let flat: Vec<f32> = case.inputs.iter().flatten().map(|v| v.unwrap_or(f32::NAN)).collect();
        // Typed as the predictor types it: any number of rows, or groups of the exported batch size.
        let typed = wasm_predict::typing::type_graph(&proto, Some(&shape[1..])).unwrap();
        let group = match typed.batching {
            wasm_predict::batching::Batching::Any => rows,
            wasm_predict::batching::Batching::Fixed(n) => n,
        };
        let plan_of = typed
            .model
            .clone()
            .into_decluttered()
            .map_err(|e| e.to_string())
            .and_then(|m| wasm_predict::compile::compile(&m));
        let mut runner = match plan_of {
            Ok(plan) => Some(wasm_predict_runtime::Runner::new(plan).unwrap()),
            Err(why) => {
                not_compiled.push(format!("{name}: {why}"));
                None
            }
        };
        let plan = typed.model.into_optimized().unwrap().into_runnable().unwrap();
        let width: usize = shape[1..].iter().product();
        let (mut got, mut compiled_got) = (vec![], vec![]);
        for start in (0..rows).step_by(group) {
            let taken = group.min(rows - start);
            let mut values = flat[start * width..(start + taken) * width].to_vec();
            values.resize(group * width, 0.0);
            let dims: Vec<usize> = std::iter::once(group).chain(shape[1..].iter().copied()).collect();
            let input = tract_ndarray::ArrayD::from_shape_vec(dims, values).unwrap();
            if let Some(runner) = runner.as_mut() {
                let (out, _) = runner.run(input.as_slice().unwrap(), group).unwrap();
                compiled_got.extend_from_slice(&out[..out.len() / group * taken]);
            }
            let output = plan.run(tvec!(input.into_tensor().into())).unwrap();
            let out = output[0].cast_to::<f32>().unwrap();
            let out: Vec<f32> = out.to_plain_array_view::<f32>().unwrap().iter().copied().collect();
            got.extend_from_slice(&out[..out.len() / group * taken]);
        }
        let want: Vec<f32> = case.expected.iter().flatten().copied().collect();
        assert_eq!(got.len(), want.len(), "{name}");
        let scale = if case.task == "regression" {
            want.iter().fold(1f32, |m, v| m.max(v.abs()))
        } else {
            1.0
        };
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= case.tolerance * scale,
                "{name} [{i}]: {g} against onnxruntime's {w} ({ops:?})"
            );
        }
        if runner.is_some() {
            compiled += 1;
            assert_eq!(compiled_got.len(), want.len(), "{name}, compiled");
            for (i, (g, w)) in compiled_got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= case.tolerance * scale || (g.is_nan() && w.is_nan()),
                    "{name} [{i}], compiled: {g} against onnxruntime's {w} ({ops:?})"
                );
            }
        }
    }
    println!("{compiled} compiled; not compiled: {not_compiled:#?}");
    assert!(fused >= 20, "only {fused} products fused over the corpus");
    println!("{convolutions} convolutions fused; Conv left to tract in {convolutions_left:?}");
    assert!(
        convolutions >= 6,
        "only {convolutions} convolutions fused over the corpus"
    );
}

/// The converters' tree models are one tree-ensemble node once lowered (ZipMap dropped, Identity
/// bypassed), and run on the tree kernel without tract's plan around it; the answers are the
/// same either way (the corpus test above holds both to onnxruntime's).
#[test]
fn single_tree_ensemble_graphs_run_on_the_kernel_directly() {
    for (name, case, model) in corpus::CORPUS {
        let case: corpus::Case = serde_json::from_slice(case).unwrap();
        let predictor = wasm_predict::Predictor::from_model(corpus::manifest_for(&case, model), model).unwrap();
        let expected = [
            "bench-forest-clf",
            "bench-gboost-reg",
            "lgbm-clf-10class",
            "lgbm-reg",
            "xgb-clf-binary",
            "xgb-reg",
            "catboost-clf-binary",
            "skl-forest-clf",
        ]
        .contains(name);
        if expected {
            assert!(predictor.runs_trees_directly(), "{name}");
        }
        if name.starts_with("mlp") || name.starts_with("cnn") || name.contains("logreg") {
            assert!(!predictor.runs_trees_directly(), "{name}");
        }
    }
}

/// A weight-only int8 model (per-column `DequantizeLinear` weights, the embedded default) gets the
/// float product kernel like its float twin: the int8 weights are dequantized once, at load.
#[test]
fn weight_only_int8_products_run_on_the_float_kernel() {
    use prost::Message;
    let bytes = std::fs::read(format!(
        "{}/models/digits-mlp-int8/1.0.0/model.onnx",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut proto = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
    wasm_predict::lowering::lower_with(&mut proto, true).unwrap();
    let ops: Vec<String> = proto.graph.unwrap().node.into_iter().map(|n| n.op_type).collect();
    let fused = ops
        .iter()
        .filter(|o| *o == wasm_predict::ops::float_dense::FLOAT_DENSE)
        .count();
    assert_eq!(fused, 2, "{ops:?}");
    assert!(!ops.iter().any(|o| o == "DequantizeLinear" || o == "MatMul"), "{ops:?}");
}

/// A tree ensemble whose attributes do not hold together is refused at load with the node and
/// the attribute named, never a panic nor a wrong answer.
#[test]
fn a_malformed_tree_ensemble_is_refused_naming_node_and_attribute() {
    use prost::Message;
    let (_, case, model) = corpus::CORPUS
        .iter()
        .find(|(n, _, _)| *n == "bench-forest-clf")
        .unwrap();
    let case: corpus::Case = serde_json::from_slice(case).unwrap();
    let refused = |edit: &dyn Fn(&mut tract_onnx::pb::NodeProto)| {
        let mut proto = tract_onnx::pb::ModelProto::decode(*model).unwrap();
        let graph = proto.graph.as_mut().unwrap();
        edit(
            graph
                .node
                .iter_mut()
                .find(|n| n.op_type == "TreeEnsembleClassifier")
                .unwrap(),
        );
        let err = wasm_predict::Predictor::from_model(corpus::manifest_for(&case, model), &proto.encode_to_vec())
            .unwrap_err();
        format!("{} {err}", err.code())
    };
    let ints = |node: &mut tract_onnx::pb::NodeProto, name: &str| -> Vec<i64> {
        node.attribute.iter().find(|a| a.name == name).unwrap().ints.clone()
    };
    let set = |node: &mut tract_onnx::pb::NodeProto, name: &str, values: Vec<i64>| {
        node.attribute.iter_mut().find(|a| a.name == name).unwrap().ints = values;
    };
    let missing = refused(&|node| {
        let mut ids = ints(node, "nodes_truenodeids");
        ids[0] = 99_999;
        set(node, "nodes_truenodeids", ids);
    });
    assert!(
        missing.contains("TreeEnsembleClassifier")
            && missing.contains("nodes_truenodeids")
            && missing.contains("no node 99999"),
        "{missing}"
    );
    // The root's second split sends its true branch back to the root.
    let cycle = refused(&|node| {
        let mut ids = ints(node, "nodes_truenodeids");
        ids[1] = 0;
        set(node, "nodes_truenodeids", ids);
    });
    assert!(
        cycle.contains("TreeEnsembleClassifier") && cycle.contains("cycle"),
        "{cycle}"
    );
    let short = refused(&|node| {
        let mut modes = ints(node, "nodes_featureids");
        modes.pop();
        set(node, "nodes_featureids", modes);
    });
    assert!(short.contains("nodes_featureids"), "{short}");
}

/// The pre-flight report and loading agree: a model `check` calls supported loads, and one it
/// calls unsupported is refused, over the whole corpus.
#[test]
fn check_agrees_with_load_on_every_corpus_case() {
    let mut disagreements = vec![];
    for entry in std::fs::read_dir(format!("{}/tests/corpus", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .flatten()
    {
        let dir = entry.path();
        if !dir.join("case.json").exists() {
            continue;
        }
        let case: corpus::Case = serde_json::from_slice(&std::fs::read(dir.join("case.json")).unwrap()).unwrap();
        let model = std::fs::read(dir.join("model.onnx")).unwrap();
        let supported = wasm_predict::check_model(&model).unwrap().supported;
        let loads = wasm_predict::Predictor::from_model(corpus::manifest_for(&case, &model), &model);
        if supported != loads.is_ok() {
            disagreements.push(format!(
                "{}: check says supported = {supported}, load says {:?}",
                dir.display(),
                loads.err()
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

/// Unknown string categories follow the encoder's `handle_unknown`: with "ignore", a row of zeros
/// (the corpus case holds such rows, matched to onnxruntime); with "error", the row is refused,
/// naming the feature, where onnxruntime fails it.
#[test]
fn unknown_categories_follow_the_encoders_handle_unknown() {
    let load = |name: &str| {
        let (_, case, model) = corpus::CORPUS.iter().find(|(n, _, _)| *n == name).unwrap();
        let case: corpus::Case = serde_json::from_slice(case).unwrap();
        let record = case.records.as_ref().unwrap()[0].clone();
        (
            wasm_predict::Predictor::from_model(corpus::manifest_for(&case, model), model).unwrap(),
            record,
        )
    };
    let (mut ignoring, mut record) = load("records-onehot-logreg");
    record.insert("city".into(), serde_json::json!("Atlantis"));
    assert!(ignoring.predict_record(&record).is_ok());
    let (mut strict, _) = load("records-onehot-error");
    let error = strict.predict_record(&record).unwrap_err();
    assert_eq!(error.code(), "INPUT_DTYPE");
    assert!(
        error.to_string().contains("`city`") && error.to_string().contains("handle_unknown"),
        "{error}"
    );
    record.insert("city".into(), serde_json::json!("Lyon"));
    assert!(strict.predict_record(&record).is_ok());
}
