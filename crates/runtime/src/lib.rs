//! The executor of compiled models: a [`Plan`] is a flat list of ops over f32 tensors whose
//! shapes are known up to the number of rows, and a [`Runner`] runs it on buffers it keeps from
//! one call to the next.
//!
//! A plan is made from a model that tract has imported, typed and simplified (see the main
//! crate's `compile`); running it needs neither tract nor its plan: one call is one pass over
//! the ops, each writing into its own buffer.
//!
//! Every value is f32: booleans are 0 and 1, integers their value (a plan refuses an integer
//! constant that f32 does not hold exactly).

mod broadcast;
mod exp;
mod layout;
mod plan;
mod run;
mod unary;

pub use broadcast::{Binary, Where};
pub use layout::{Reducer, Reduction};
pub use plan::{elements, Dim, Node, Op, Plan, PlanError, MAX_ELEMENTS};
pub use run::{product_shape, Runner};
pub use unary::{Cast, Unary};
