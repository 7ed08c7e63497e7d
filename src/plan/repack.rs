//! Which tensors of a plan are INT4 groups repacked losslessly into Q4_0, and how exactly f16
//! holds their scales (for `plan` and the convert summary).

use super::Plan;
use crate::Result;
use crate::exec::packed::{ScaleLoss, repacks_to_q4_0, scale_bytes, scan_scales};

/// Scale data `plan` reads to measure the f16 exactness up front; above it the measure is left
/// to the conversion.
pub const SCAN_LIMIT: u64 = 256 << 20;

/// The repacked tensors of a plan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RepackSummary {
    /// Names of the tensors written as Q4_0 straight from their INT4 groups.
    pub tensors: Vec<String>,
    /// The f16 exactness of their scales, when measured (their scale data is at most `limit`).
    pub loss: Option<ScaleLoss>,
}

/// The repacked tensors of `plan`; their scales are read and measured when they total at most
/// `limit` bytes.
pub fn summary(plan: &Plan, limit: u64) -> Result<RepackSummary> {
    let repacked: Vec<_> = plan.tensors.iter().filter(|t| repacks_to_q4_0(t)).collect();
    let bytes: u64 = repacked
        .iter()
        .map(|t| scale_bytes(&plan.checkpoint, t))
        .sum();
    let loss = if repacked.is_empty() || bytes > limit {
        None
    } else {
        let mut l = ScaleLoss::default();
        for t in &repacked {
            l.merge(&scan_scales(&plan.checkpoint, t)?);
        }
        Some(l)
    };
    Ok(RepackSummary {
        tensors: repacked.iter().map(|t| t.info.name.clone()).collect(),
        loss,
    })
}

/// One line about the f16 exactness of the repacked scales.
pub fn describe_loss(l: &ScaleLoss) -> String {
    if l.inexact == 0 {
        format!(
            "all {} INT4 group scales are exact in f16: the Q4_0 blocks hold the checkpoint's values exactly",
            l.scales
        )
    } else {
        format!(
            "{} of {} INT4 group scales are not exact in f16 (worst relative error {:.3e}): those \
             groups' values are scaled by the nearest f16",
            l.inexact, l.scales, l.worst_rel
        )
    }
}
