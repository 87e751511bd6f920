//! How tract's inference stage sees our one-input f32 ops: shape rules, then the typed op. Row
//! ops ([`F32Expansion`]) keep the input's shape but maybe its last axis; window ops over NCHW
//! images ([`WindowExpansion`]) compute theirs.

use tract_onnx::tract_hir::internal::*;

/// A one-input, one-output f32 op: the output has the input's shape, except its last axis when
/// `last_axis` is given.
#[derive(Debug, Clone)]
pub struct F32Expansion<O> {
    /// The typed op wired in.
    pub op: O,
    /// Its op type in graphs.
    pub name: &'static str,
    /// The output's last axis, when it differs from the input's.
    pub last_axis: Option<usize>,
}

impl<O: TypedOp + Clone> Expansion for F32Expansion<O> {
    fn name(&self) -> StaticName {
        self.name.into()
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.op.clone(), inputs)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        let Some(last) = self.last_axis else {
            return s.equals(&outputs[0].shape, &inputs[0].shape);
        };
        s.equals(&outputs[0].rank, &inputs[0].rank)?;
        s.given(&inputs[0].rank, move |s, rank| {
            let rank = rank as usize;
            for axis in 0..rank.saturating_sub(1) {
                s.equals(&outputs[0].shape[axis], &inputs[0].shape[axis])?;
            }
            if rank > 0 {
                s.equals(&outputs[0].shape[rank - 1], last.to_dim())?;
            }
            Ok(())
        })
    }
}

/// How tract's inference stage sees our NCHW f32 window ops: the output's shape from the
/// input's once it is known.
#[derive(Debug, Clone)]
pub struct WindowExpansion<O> {
    /// The typed op wired in.
    pub op: O,
    /// Its op type in graphs.
    pub name: &'static str,
    /// The output shape for a known input shape.
    pub shape: fn(&O, &[TDim]) -> TractResult<TVec<TDim>>,
}

impl<O: TypedOp + Clone> Expansion for WindowExpansion<O> {
    fn name(&self) -> StaticName {
        self.name.into()
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.op.clone(), inputs)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&inputs[0].rank, 4)?;
        s.equals(&outputs[0].rank, 4)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.given(&inputs[0].shape, move |s, shape| {
            let out = (self.shape)(&self.op, &shape)?;
            for (axis, dim) in out.into_iter().enumerate().skip(1) {
                s.equals(&outputs[0].shape[axis], dim)?;
            }
            Ok(())
        })
    }
}
