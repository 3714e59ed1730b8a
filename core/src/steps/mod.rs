//! One file per phase, each doing that phase's real syscalls through a [`Kernel`]. Steps read
//! the [`Plan`](crate::plan::Plan) only: no allocation, no formatting, no path joining.

pub mod inject;
pub mod jail;
pub mod mounts;
pub mod namespaces;
pub mod overlay_mount;
pub mod post_jail;
pub mod propagation;

use crate::kernel::Fd;
use crate::record::{Fail, Shared, Syscall};
use nix::errno::Errno;

/// What the steps of one child share: the rootfs fd and scratch space allocated before fork.
pub struct ChildState<'a> {
    /// The rootfs (overlay root), opened `O_PATH` by the overlay step.
    pub root: Fd,
    /// Scratch bytes (fd-paths mount data).
    pub scratch: &'a mut [u8],
    /// Scratch fd slots (fd-paths layer fds).
    pub fds: &'a mut [Fd],
    /// The run record (the kernel's fs_context messages go there).
    pub rec: &'a Shared,
}

/// Attaches the syscall and path to an errno.
pub trait At<T> {
    fn at(self, syscall: Syscall, path: u16) -> Result<T, Fail>;
}

impl<T> At<T> for Result<T, Errno> {
    #[inline(always)]
    fn at(self, syscall: Syscall, path: u16) -> Result<T, Fail> {
        self.map_err(|e| Fail::new(syscall, e, path))
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A plan over a fixture of empty layer dirs, for syscall-order tests with the recorder
    //! (no root needed).
    use crate::fixture::Fixture;
    use crate::overlay::{KernelFeatures, parse::Lsm};
    use crate::plan::Plan;
    use crate::spec::{ImageSource, SetupSpec};

    /// The plan, its fixture, and the temp dir holding both (dropped last).
    pub struct Planned {
        pub plan: Plan,
        pub _fixture: Fixture,
        _base: tempfile::TempDir,
    }

    pub fn plan(spec: &SetupSpec) -> Planned {
        let base = tempfile::tempdir().expect("tempdir");
        let img = base.path().join("img");
        let n = spec.image.layer_count().unwrap_or(1);
        for i in 0..n {
            std::fs::create_dir_all(img.join(format!("layers/{i:04}"))).expect("mkdir");
        }
        let spec = SetupSpec {
            image: ImageSource::Dir(img),
            ..spec.clone()
        };
        let fixture = Fixture::create(&spec, base.path()).expect("fixture");
        let features = KernelFeatures {
            lsm: Lsm::None,
            ..KernelFeatures::default()
        };
        let plan = Plan::build(&spec, &fixture, &features).expect("plan");
        Planned {
            plan,
            _fixture: fixture,
            _base: base,
        }
    }
}
