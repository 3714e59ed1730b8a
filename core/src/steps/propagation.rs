//! `propagation`: `/` made rslave (or rprivate) before anything is mounted, the rootfs parent
//! mount made non-shared, and the rootfs bound onto itself (runc's `prepareRoot`).

use super::At;
use crate::kernel::{Kernel, Target};
use crate::plan::Plan;
use crate::record::{Fail, Syscall};
use nix::errno::Errno;
use nix::mount::MsFlags;

pub fn run<K: Kernel>(k: &mut K, plan: &Plan) -> Result<(), Fail> {
    let slash = plan.ancestors.last().map_or(0, |a| a.1);
    // From here on nothing mounted in this namespace propagates back to the host.
    k.mount(None, Target::Path(c"/"), None, plan.root_propagation, None)
        .at(Syscall::Mount, slash)?;
    // pivot_root refuses a shared parent mount, and a bind under a shared parent would
    // propagate to its peers. mount(MS_PRIVATE) fails with EINVAL on a path that is not a
    // mount point, so walk up until one is found.
    for (p, label) in &plan.ancestors {
        match k.mount(None, Target::Path(p), None, plan.parent_propagation, None) {
            Ok(()) => break,
            Err(Errno::EINVAL) => continue,
            Err(e) => return Err(Fail::new(Syscall::Mount, e, *label)),
        }
    }
    // pivot_root needs the new root to be a mount point.
    k.mount(
        Some(&plan.rootfs),
        Target::Path(&plan.rootfs),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )
    .at(Syscall::Mount, plan.rootfs_label)
}
