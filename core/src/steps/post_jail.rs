//! `post_jail`: what runs after the root switch (the hostname, in the new UTS namespace).

use super::At;
use crate::kernel::Kernel;
use crate::plan::Plan;
use crate::record::{Fail, Syscall};

pub fn run<K: Kernel>(k: &mut K, plan: &Plan) -> Result<(), Fail> {
    if let Some(h) = &plan.hostname {
        k.sethostname(h.to_bytes())
            .at(Syscall::Sethostname, plan.hostname_label)?;
    }
    Ok(())
}
