//! What our window ops over NCHW images ([`crate::ops::float_conv`], [`crate::ops::max_pool`])
//! share: where a standard node's windows fall, written as our nodes' attributes and read back,
//! and the output shape they give.

use tract_onnx::pb::{AttributeProto, NodeProto};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::PaddingSpec;
use tract_onnx::tract_hir::internal::*;
use wasm_predict_kernels::conv_f32::{Geometry, Padding};

use crate::graph_edit::{attribute, int_attribute, ints_attribute};

/// The output shape `[N, C', oh, ow]` of an NCHW input shape `[N, C, h, w]` under `geometry`:
/// `C'` is `out_channels` for a convolution, `C` for a pooling (`None`).
pub(crate) fn output_shape<D: DimLike>(
    op: &str,
    input: &[D],
    channels: Option<(usize, usize)>,
    geometry: &Geometry,
) -> TractResult<TVec<D>> {
    let [n, c, h, w] = input else {
        bail!("{op} needs an input of rank 4 (N, C, H, W), got rank {}", input.len());
    };
    let out_channels = match channels {
        Some((channels, out)) => {
            ensure!(
                c.to_usize().map_or(true, |c| c == channels),
                "{op}: the input has {c} channels, the weight {channels}"
            );
            D::from(out)
        }
        None => c.clone(),
    };
    let spec = match geometry.padding {
        Padding::Explicit([top, left, bottom, right]) => PaddingSpec::Explicit(tvec!(top, left), tvec!(bottom, right)),
        Padding::SameUpper => PaddingSpec::SameUpper,
        Padding::SameLower => PaddingSpec::SameLower,
    };
    let spatial = spec.compute(
        &[h.clone(), w.clone()],
        &geometry.kernel,
        &geometry.dilations,
        &geometry.strides,
    );
    let [height, width] = &spatial[..] else {
        bail!("{op}: two spatial axes expected");
    };
    Ok(tvec!(
        n.clone(),
        out_channels,
        height.convoluted.clone(),
        width.convoluted.clone()
    ))
}

/// Where a standard `Conv` or `MaxPool` node's windows fall, as the attributes of our nodes
/// (`strides`, `dilations`, `pads`, `auto_pad`: 0, 1 for `SAME_UPPER`, 2 for `SAME_LOWER`); `None`
/// for what our kernels do not take (not two spatial axes, an unknown `auto_pad`).
pub(crate) fn window_attributes(node: &NodeProto, kernel: [usize; 2]) -> Option<Vec<AttributeProto>> {
    let ints = |name: &str, default: [i64; 2]| match attribute(node, name).map(|a| &a.ints[..]) {
        None => Some(default.to_vec()),
        Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 1) => Some(v.to_vec()),
        Some(_) => None,
    };
    let kernel = [kernel[0] as i64, kernel[1] as i64];
    if ints("kernel_shape", kernel)? != kernel {
        return None;
    }
    let (strides, dilations) = (ints("strides", [1, 1])?, ints("dilations", [1, 1])?);
    let auto_pad = attribute(node, "auto_pad").map_or(&b"NOTSET"[..], |a| &a.s[..]);
    let (auto, pads) = match auto_pad {
        b"SAME_UPPER" => (1, vec![0; 4]),
        b"SAME_LOWER" => (2, vec![0; 4]),
        b"VALID" => (0, vec![0; 4]),
        b"NOTSET" | b"" => match attribute(node, "pads").map(|a| a.ints.clone()) {
            None => (0, vec![0; 4]),
            Some(p) if p.len() == 4 && p.iter().all(|&x| x >= 0) => (0, p),
            Some(_) => return None,
        },
        _ => return None,
    };
    Some(vec![
        ints_attribute("kernel_shape", kernel.to_vec()),
        ints_attribute("strides", strides),
        ints_attribute("dilations", dilations),
        ints_attribute("pads", pads),
        int_attribute("auto_pad", auto),
    ])
}

/// Reads back what [`window_attributes`] wrote.
pub(crate) fn geometry_of(op: &str, node: &NodeProto) -> TractResult<Geometry> {
    let pair = |name: &str| -> TractResult<[usize; 2]> {
        match attribute(node, name).map(|a| &a.ints[..]) {
            Some(&[a, b]) => Ok([usize::try_from(a)?, usize::try_from(b)?]),
            _ => bail!("{op} node {:?}: {name} should hold two values", node.name),
        }
    };
    let padding = match attribute(node, "auto_pad").map_or(0, |a| a.i) {
        1 => Padding::SameUpper,
        2 => Padding::SameLower,
        _ => match attribute(node, "pads").map(|a| &a.ints[..]) {
            Some(&[t, l, b, r]) => Padding::Explicit([
                usize::try_from(t)?,
                usize::try_from(l)?,
                usize::try_from(b)?,
                usize::try_from(r)?,
            ]),
            _ => bail!("{op} node {:?}: pads should hold four values", node.name),
        },
    };
    Ok(Geometry {
        kernel: pair("kernel_shape")?,
        strides: pair("strides")?,
        dilations: pair("dilations")?,
        padding,
    })
}
