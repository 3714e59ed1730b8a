//! `unshare`: the requested namespaces, in one call (runc) or one call each (youki).

use super::At;
use crate::kernel::Kernel;
use crate::plan::Plan;
use crate::record::{Fail, Syscall};

pub fn run<K: Kernel>(k: &mut K, plan: &Plan) -> Result<(), Fail> {
    for &flags in &plan.unshare {
        k.unshare(flags).at(Syscall::Unshare, 0)?;
    }
    Ok(())
}
