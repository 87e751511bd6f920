//! ONNX's tree-ensemble ops (ai.onnx.ml `TreeEnsembleClassifier` and `TreeEnsembleRegressor`
//! up to v3, `TreeEnsemble` v5) on our own kernel ([`wasm_predict_kernels::trees`]), in place of
//! tract's, which costs about 3 µs per node visited: the node's attributes are read into an
//! [`Ensemble`] once, compiled into a [`Forest`], and every call walks it.

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, ModelProto, NodeProto, TensorProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::Onnx;
use wasm_predict_kernels::trees::{Aggregate, Child, Ensemble, Forest, Mode, Output, PostTransform, Split};

use crate::graph_edit::attribute;

/// The classifier's labels, as the model declares them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Labels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

/// The op: a compiled forest, and for a classifier its labels (a second output).
#[derive(Debug, Clone)]
pub struct TreeEnsembleOp {
    forest: Arc<Forest>,
    labels: Option<Labels>,
    /// ai.onnx.ml v5 `TreeEnsemble`, whose output has the input's type.
    v5: bool,
    /// The node's op type and name, for errors.
    origin: String,
}

impl PartialEq for TreeEnsembleOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.forest, &other.forest) && self.labels == other.labels && self.v5 == other.v5
    }
}

impl Eq for TreeEnsembleOp {}

impl std::hash::Hash for TreeEnsembleOp {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.forest.trees(), self.forest.targets(), &self.labels, &self.origin).hash(state);
    }
}

impl TreeEnsembleOp {
    /// Reads the op from an ONNX node: `TreeEnsembleClassifier`, `TreeEnsembleRegressor` or
    /// `TreeEnsemble`.
    pub fn from_node(node: &NodeProto) -> TractResult<TreeEnsembleOp> {
        let origin = format!("{} node {:?}", node.op_type, node.name);
        let (ensemble, labels) = match node.op_type.as_str() {
            "TreeEnsembleClassifier" => {
                let labels = class_labels(node)?;
                let count = match &labels {
                    Labels::Ints(l) => l.len(),
                    Labels::Strings(l) => l.len(),
                };
                (from_v3(node, "class_", Output::Classifier, count)?, Some(labels))
            }
            "TreeEnsembleRegressor" => {
                let targets = int(node, "n_targets").unwrap_or(1);
                let targets = usize::try_from(targets).map_err(|_| format_err!("n_targets is {targets}"))?;
                (from_v3(node, "target_", Output::Regressor, targets)?, None)
            }
            _ => (from_v5(node)?, None),
        };
        let forest = Forest::compile(&ensemble).map_err(|e| format_err!("{origin}: {e}"))?;
        Ok(TreeEnsembleOp {
            forest: Arc::new(forest),
            labels,
            v5: node.op_type == "TreeEnsemble",
            origin,
        })
    }

    /// The compiled forest.
    pub fn forest(&self) -> &Forest {
        &self.forest
    }

    /// The compiled forest, shared.
    pub fn shared_forest(&self) -> Arc<Forest> {
        Arc::clone(&self.forest)
    }

    fn outputs(&self) -> usize {
        if self.labels.is_some() {
            2
        } else {
            1
        }
    }
}

impl Op for TreeEnsembleOp {
    fn name(&self) -> StaticName {
        "WasmPredictTreeEnsemble".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{}: {} trees, {} outputs",
            self.origin,
            self.forest.trees(),
            self.forest.targets()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsembleOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let (rows, width) = match *input.shape() {
            [rows, width] => (rows, width),
            [width] => (1, width),
            ref other => bail!("{}: input of shape {other:?}, expected [rows, features]", self.origin),
        };
        // Doubles and integers are compared exactly as onnxruntime does, in double precision.
        let exact = matches!(input.datum_type(), DatumType::F64 | DatumType::I64 | DatumType::I32);
        let evaluated = if exact {
            let x = input.cast_to::<f64>()?;
            let plain = x.try_as_plain_ram()?;
            self.forest.evaluate_f64(plain.as_slice::<f64>()?, width, rows)
        } else {
            let x = input.cast_to::<f32>()?;
            let plain = x.try_as_plain_ram()?;
            self.forest.evaluate(plain.as_slice::<f32>()?, width, rows)
        };
        let (scores, winners) = evaluated.map_err(|e| format_err!("{}: {e}", self.origin))?;
        let scores = tract_ndarray::Array2::from_shape_vec((rows, self.forest.targets()), scores)?;
        let scores = if self.v5 && input.datum_type() == DatumType::F64 {
            scores.mapv(f64::from).into_tvalue()
        } else {
            scores.into_tvalue()
        };
        Ok(match &self.labels {
            None => tvec!(scores),
            Some(Labels::Ints(labels)) => {
                let picked: Vec<i64> = winners.iter().map(|w| labels.get(*w).copied().unwrap_or(0)).collect();
                tvec!(tract_ndarray::Array1::from_vec(picked).into_tvalue(), scores)
            }
            Some(Labels::Strings(labels)) => {
                let picked: Vec<String> = winners
                    .iter()
                    .map(|w| labels.get(*w).cloned().unwrap_or_default())
                    .collect();
                tvec!(tract_ndarray::Array1::from_vec(picked).into_tvalue(), scores)
            }
        })
    }
}

impl TypedOp for TreeEnsembleOp {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = match inputs[0].shape.len() {
            2 => inputs[0].shape[0].clone(),
            1 => 1.to_dim(),
            rank => bail!("{}: input of rank {rank}, expected [rows, features]", self.origin),
        };
        let scores_type = if self.v5 && inputs[0].datum_type == DatumType::F64 {
            DatumType::F64
        } else {
            DatumType::F32
        };
        let scores = scores_type.fact([rows.clone(), self.forest.targets().to_dim()]);
        Ok(match &self.labels {
            None => tvec!(scores),
            Some(Labels::Ints(_)) => tvec!(i64::fact([rows]), scores),
            Some(Labels::Strings(_)) => tvec!(String::fact([rows]), scores),
        })
    }
}

/// How tract's inference stage sees the op: `[rows, features]` in; scores `[rows, targets]` out,
/// after the labels `[rows]` for a classifier.
#[derive(Debug, Clone)]
struct TreeEnsembleExpansion(TreeEnsembleOp);

impl Expansion for TreeEnsembleExpansion {
    fn name(&self) -> StaticName {
        "WasmPredictTreeEnsemble".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.0.outputs())
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.0.clone(), inputs)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, self.0.outputs())?;
        let scores = &outputs[self.0.outputs() - 1];
        s.equals(&inputs[0].rank, 2)?;
        let v5 = self.0.v5;
        s.given(&inputs[0].datum_type, move |s, dt| {
            let scores_type = if v5 && dt == DatumType::F64 { dt } else { DatumType::F32 };
            s.equals(&outputs[outputs.len() - 1].datum_type, scores_type)
        })?;
        s.equals(&scores.rank, 2)?;
        s.equals(&scores.shape[0], &inputs[0].shape[0])?;
        s.equals(&scores.shape[1], self.0.forest.targets().to_dim())?;
        if let Some(labels) = &self.0.labels {
            let dt = match labels {
                Labels::Ints(_) => i64::datum_type(),
                Labels::Strings(_) => String::datum_type(),
            };
            s.equals(&outputs[0].datum_type, dt)?;
            s.equals(&outputs[0].rank, 1)?;
            s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        }
        Ok(())
    }
}

/// The forest of a graph that is nothing but one tree-ensemble node from the graph's input to
/// `output` (its scores, possibly through `Identity` nodes, as onnxmltools writes LightGBM): such
/// a graph can run on the kernel without tract around it.
pub fn sole_forest(proto: &ModelProto, output: &str) -> Option<Arc<Forest>> {
    let graph = proto.graph.as_ref()?;
    let is_tree = |n: &&NodeProto| {
        matches!(
            n.op_type.as_str(),
            "TreeEnsembleClassifier" | "TreeEnsembleRegressor" | "TreeEnsemble"
        )
    };
    let mut trees = graph.node.iter().filter(is_tree);
    let (node, None) = (trees.next()?, trees.next()) else {
        return None;
    };
    let others: Vec<&NodeProto> = graph.node.iter().filter(|n| !is_tree(n)).collect();
    if others.iter().any(|n| !crate::graph_edit::is_standard(n, "Identity")) {
        return None;
    }
    let mut tensor = node
        .output
        .get(usize::from(node.op_type == "TreeEnsembleClassifier"))?
        .as_str();
    // At most one step per Identity: a cycle of them is not followed forever.
    for _ in 0..others.len() {
        if tensor == output {
            break;
        }
        tensor = others
            .iter()
            .find(|n| n.input.first().is_some_and(|i| i == tensor))?
            .output
            .first()?;
    }
    if tensor != output {
        return None;
    }
    let input = graph
        .input
        .iter()
        .find(|i| !graph.initializer.iter().any(|t| t.name == i.name))?;
    if node.input.first() != Some(&input.name) {
        return None;
    }
    TreeEnsembleOp::from_node(node).ok().map(|op| op.forest)
}

/// Puts our op in place of tract's for the three tree-ensemble op types.
pub fn register(onnx: &mut Onnx) {
    for op in ["TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble"] {
        onnx.op_register.insert(op, |_, node| {
            let op = TreeEnsembleOp::from_node(node)?;
            Ok((expand(TreeEnsembleExpansion(op)), vec![]))
        });
    }
}

fn int(node: &NodeProto, name: &str) -> Option<i64> {
    attribute(node, name).map(|a| a.i)
}

fn ints<'a>(node: &'a NodeProto, name: &str) -> &'a [i64] {
    attribute(node, name).map(|a| a.ints.as_slice()).unwrap_or_default()
}

fn text(node: &NodeProto, name: &str) -> Option<String> {
    attribute(node, name).map(|a| String::from_utf8_lossy(&a.s).into_owned())
}

/// A list of numbers given as `name` (floats) or `name_as_tensor` (a double tensor).
fn floats(node: &NodeProto, name: &str) -> TractResult<Vec<f64>> {
    if let Some(a) = attribute(node, name) {
        return Ok(a.floats.iter().map(|v| f64::from(*v)).collect());
    }
    match attribute(node, &format!("{name}_as_tensor")).and_then(|a: &AttributeProto| a.t.as_ref()) {
        Some(t) => tensor_values(t).with_context(|| format!("attribute {name}_as_tensor")),
        None => Ok(vec![]),
    }
}

/// The values of a float, double or float16 tensor.
fn tensor_values(t: &TensorProto) -> TractResult<Vec<f64>> {
    let raw = &t.raw_data;
    Ok(match DataType::try_from(t.data_type) {
        Ok(DataType::Float) if !raw.is_empty() => raw
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        Ok(DataType::Float) => t.float_data.iter().map(|v| f64::from(*v)).collect(),
        Ok(DataType::Double) if !raw.is_empty() => raw
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
        Ok(DataType::Double) => t.double_data.clone(),
        Ok(DataType::Float16) if !raw.is_empty() => raw
            .chunks_exact(2)
            .map(|b| f64::from(half_to_f32(u16::from_le_bytes([b[0], b[1]]))))
            .collect(),
        Ok(DataType::Float16) => t.int32_data.iter().map(|v| f64::from(half_to_f32(*v as u16))).collect(),
        _ => bail!("a tensor of type {} where floats were expected", t.data_type),
    })
}

fn to_f32(values: Vec<f64>) -> Vec<f32> {
    values.into_iter().map(|v| v as f32).collect()
}

/// The values of a uint8 tensor (ai.onnx.ml v5's `nodes_modes`).
fn tensor_bytes(t: &TensorProto) -> Vec<u8> {
    if t.raw_data.is_empty() {
        t.int32_data.iter().map(|v| *v as u8).collect()
    } else {
        t.raw_data.clone()
    }
}

fn half_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exponent = i32::from((h >> 10) & 0x1f);
    let fraction = f32::from(h & 0x3ff);
    sign * match exponent {
        0 => fraction * 2f32.powi(-24),
        31 if fraction == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        e => (1.0 + fraction / 1024.0) * 2f32.powi(e - 15),
    }
}

fn class_labels(node: &NodeProto) -> TractResult<Labels> {
    let ints = ints(node, "classlabels_int64s");
    let strings = attribute(node, "classlabels_strings")
        .map(|a| a.strings.as_slice())
        .unwrap_or_default();
    Ok(match (ints.is_empty(), strings.is_empty()) {
        (false, true) => Labels::Ints(ints.to_vec()),
        (true, false) => Labels::Strings(
            strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        ),
        (true, true) => bail!("TreeEnsembleClassifier node {:?} declares no class labels", node.name),
        (false, false) => bail!(
            "TreeEnsembleClassifier node {:?} declares both integer and string class labels",
            node.name
        ),
    })
}

fn post_transform(name: &str) -> TractResult<PostTransform> {
    Ok(match name {
        "NONE" => PostTransform::None,
        "SOFTMAX" => PostTransform::Softmax,
        "LOGISTIC" => PostTransform::Logistic,
        "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
        "PROBIT" => PostTransform::Probit,
        other => bail!("post_transform {other:?} is not one of NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO, PROBIT"),
    })
}

fn aggregate(name: &str) -> TractResult<Aggregate> {
    Ok(match name {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        "MIN" => Aggregate::Min,
        "MAX" => Aggregate::Max,
        other => bail!("aggregate_function {other:?} is not one of SUM, AVERAGE, MIN, MAX"),
    })
}

fn index(value: i64, what: &str) -> TractResult<usize> {
    usize::try_from(value).map_err(|_| format_err!("{what} is {value}, not an index"))
}

/// Reads `TreeEnsembleClassifier` / `TreeEnsembleRegressor` (ai.onnx.ml v1 to v3): nodes named by
/// (tree id, node id), leaves by mode `LEAF`, leaf weights by `<prefix>treeids/nodeids/ids/weights`.
/// As onnxruntime does: each tree's root is its first listed node, weights on a split are ignored.
fn from_v3(node: &NodeProto, prefix: &str, output: Output, targets: usize) -> TractResult<Ensemble> {
    let at = |name: &str| format!("{} node {:?}, attribute {name}", node.op_type, node.name);
    let tree_ids = ints(node, "nodes_treeids");
    let node_ids = ints(node, "nodes_nodeids");
    let features = ints(node, "nodes_featureids");
    let true_ids = ints(node, "nodes_truenodeids");
    let false_ids = ints(node, "nodes_falsenodeids");
    let missing = ints(node, "nodes_missing_value_tracks_true");
    let modes: Vec<String> = attribute(node, "nodes_modes")
        .map(|a| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let values = floats(node, "nodes_values")?;
    let n = tree_ids.len();
    for (name, len) in [
        ("nodes_nodeids", node_ids.len()),
        ("nodes_featureids", features.len()),
        ("nodes_truenodeids", true_ids.len()),
        ("nodes_falsenodeids", false_ids.len()),
        ("nodes_modes", modes.len()),
        ("nodes_values", values.len()),
    ] {
        if len != n {
            bail!("{}: {len} values for {n} nodes", at(name));
        }
    }
    let mut position: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
    for i in 0..n {
        if position.insert((tree_ids[i], node_ids[i]), i).is_some() {
            bail!(
                "{}: node {} of tree {} is listed twice",
                at("nodes_nodeids"),
                node_ids[i],
                tree_ids[i]
            );
        }
    }
    // Splits and leaves, numbered in the order listed.
    let mut child_of = Vec::with_capacity(n);
    let (mut splits, mut leaves) = (0, 0);
    for mode in &modes {
        if mode == "LEAF" {
            child_of.push(Child::Leaf(leaves));
            leaves += 1;
        } else {
            child_of.push(Child::Split(splits));
            splits += 1;
        }
    }
    let find = |tree: i64, id: i64, what: &str| -> TractResult<Child> {
        position
            .get(&(tree, id))
            .map(|&i| child_of[i])
            .ok_or_else(|| format_err!("{}: tree {tree} has no node {id}", at(what)))
    };
    let mut ensemble_splits = Vec::with_capacity(splits);
    for i in 0..n {
        let mode = match modes[i].as_str() {
            "LEAF" => continue,
            "BRANCH_LEQ" => Mode::Leq,
            "BRANCH_LT" => Mode::Lt,
            "BRANCH_GTE" => Mode::Gte,
            "BRANCH_GT" => Mode::Gt,
            "BRANCH_EQ" => Mode::Eq,
            "BRANCH_NEQ" => Mode::Neq,
            other => bail!("{}: node {i} has mode {other:?}", at("nodes_modes")),
        };
        ensemble_splits.push(Split {
            feature: index(features[i], &at("nodes_featureids"))?,
            mode,
            threshold: values[i],
            members: vec![],
            missing_goes_true: missing.get(i).is_some_and(|m| *m == 1),
            if_true: find(tree_ids[i], true_ids[i], "nodes_truenodeids")?,
            if_false: find(tree_ids[i], false_ids[i], "nodes_falsenodeids")?,
        });
    }
    let mut ensemble_leaves = vec![Vec::new(); leaves];
    let weight_trees = ints(node, &format!("{prefix}treeids"));
    let weight_nodes = ints(node, &format!("{prefix}nodeids"));
    let weight_targets = ints(node, &format!("{prefix}ids"));
    let weights = to_f32(floats(node, &format!("{prefix}weights"))?);
    let m = weight_trees.len();
    if weight_nodes.len() != m || weight_targets.len() != m || weights.len() != m {
        bail!(
            "{}: {m} tree ids, {} node ids, {} target ids and {} weights",
            at(&format!("{prefix}weights")),
            weight_nodes.len(),
            weight_targets.len(),
            weights.len()
        );
    }
    for k in 0..m {
        let what = format!("{prefix}nodeids");
        if let Child::Leaf(l) = find(weight_trees[k], weight_nodes[k], &what)? {
            let target = index(weight_targets[k], &at(&format!("{prefix}ids")))?;
            ensemble_leaves[l].push((target, weights[k]));
        }
    }
    if output == Output::Regressor && targets == 1 {
        // onnxruntime's one-target path reads one value per leaf: its first weight, or without
        // any, the leaf's own `nodes_values` entry.
        for (i, child) in child_of.iter().enumerate() {
            if let Child::Leaf(l) = *child {
                let first = ensemble_leaves[l].first().map_or(values[i] as f32, |w| w.1);
                ensemble_leaves[l] = vec![(0, first)];
            }
        }
    }
    let mut roots = Vec::new();
    for i in 0..n {
        if i == 0 || tree_ids[i] != tree_ids[i - 1] {
            roots.push(child_of[i]);
        }
    }
    Ok(Ensemble {
        splits: ensemble_splits,
        leaves: ensemble_leaves,
        roots,
        targets,
        aggregate: aggregate(&text(node, "aggregate_function").unwrap_or_else(|| "SUM".into()))?,
        post_transform: post_transform(&text(node, "post_transform").unwrap_or_else(|| "NONE".into()))?,
        base_values: to_f32(floats(node, "base_values")?),
        output,
    })
}

/// Reads ai.onnx.ml v5 `TreeEnsemble`: nodes by index, `tree_roots`, leaves by index with one
/// `(target, weight)` each, set membership with NaN-delimited `membership_values`.
fn from_v5(node: &NodeProto) -> TractResult<Ensemble> {
    let at = |name: &str| format!("TreeEnsemble node {:?}, attribute {name}", node.name);
    let tensor = |name: &str| attribute(node, name).and_then(|a| a.t.as_ref());
    let features = ints(node, "nodes_featureids");
    let n = features.len();
    let splits = match tensor("nodes_splits") {
        Some(t) => tensor_values(t).with_context(|| at("nodes_splits"))?,
        None => bail!("{}: missing", at("nodes_splits")),
    };
    let modes = tensor("nodes_modes").map(tensor_bytes).unwrap_or_default();
    let true_ids = ints(node, "nodes_truenodeids");
    let false_ids = ints(node, "nodes_falsenodeids");
    let true_leafs = ints(node, "nodes_trueleafs");
    let false_leafs = ints(node, "nodes_falseleafs");
    let missing = ints(node, "nodes_missing_value_tracks_true");
    for (name, len) in [
        ("nodes_splits", splits.len()),
        ("nodes_modes", modes.len()),
        ("nodes_truenodeids", true_ids.len()),
        ("nodes_falsenodeids", false_ids.len()),
        ("nodes_trueleafs", true_leafs.len()),
        ("nodes_falseleafs", false_leafs.len()),
    ] {
        if len != n {
            bail!("{}: {len} values for {n} nodes", at(name));
        }
    }
    let mut members = tensor("membership_values")
        .map(tensor_values)
        .transpose()
        .with_context(|| at("membership_values"))?
        .unwrap_or_default()
        .into_iter();
    let child = |id: i64, leaf: i64, what: &str| -> TractResult<Child> {
        let i = index(id, &at(what))?;
        Ok(if leaf != 0 { Child::Leaf(i) } else { Child::Split(i) })
    };
    let mut ensemble_splits = Vec::with_capacity(n);
    for i in 0..n {
        let mode = match modes[i] {
            0 => Mode::Leq,
            1 => Mode::Lt,
            2 => Mode::Gte,
            3 => Mode::Gt,
            4 => Mode::Eq,
            5 => Mode::Neq,
            6 => Mode::Member,
            other => bail!("{}: node {i} has mode {other}", at("nodes_modes")),
        };
        let set = if mode == Mode::Member {
            members.by_ref().take_while(|v| !v.is_nan()).collect()
        } else {
            vec![]
        };
        ensemble_splits.push(Split {
            feature: index(features[i], &at("nodes_featureids"))?,
            mode,
            threshold: splits[i],
            members: set,
            missing_goes_true: missing.get(i).is_some_and(|m| *m == 1),
            if_true: child(true_ids[i], true_leafs[i], "nodes_truenodeids")?,
            if_false: child(false_ids[i], false_leafs[i], "nodes_falsenodeids")?,
        });
    }
    let targets = ints(node, "leaf_targetids");
    let weights = match tensor("leaf_weights") {
        Some(t) => tensor_values(t).with_context(|| at("leaf_weights"))?,
        None => bail!("{}: missing", at("leaf_weights")),
    };
    if targets.len() != weights.len() {
        bail!(
            "{}: {} target ids for {} weights",
            at("leaf_targetids"),
            targets.len(),
            weights.len()
        );
    }
    let leaves = targets
        .iter()
        .zip(&weights)
        .map(|(t, w)| Ok(vec![(index(*t, &at("leaf_targetids"))?, *w as f32)]))
        .collect::<TractResult<Vec<_>>>()?;
    let roots = ints(node, "tree_roots")
        .iter()
        .map(|r| Ok(Child::Split(index(*r, &at("tree_roots"))?)))
        .collect::<TractResult<Vec<_>>>()?;
    let n_targets = int(node, "n_targets").ok_or_else(|| format_err!("{}: missing", at("n_targets")))?;
    Ok(Ensemble {
        splits: ensemble_splits,
        leaves,
        roots,
        targets: index(n_targets, &at("n_targets"))?,
        aggregate: match int(node, "aggregate_function").unwrap_or(1) {
            0 => Aggregate::Average,
            1 => Aggregate::Sum,
            2 => Aggregate::Min,
            3 => Aggregate::Max,
            other => bail!("{}: {other} is not 0 to 3", at("aggregate_function")),
        },
        post_transform: match int(node, "post_transform").unwrap_or(0) {
            0 => PostTransform::None,
            1 => PostTransform::Softmax,
            2 => PostTransform::Logistic,
            3 => PostTransform::SoftmaxZero,
            4 => PostTransform::Probit,
            other => bail!("{}: {other} is not 0 to 4", at("post_transform")),
        },
        base_values: vec![],
        output: Output::Regressor,
    })
}
