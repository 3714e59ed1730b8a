//! Invariant 3 on generated stacks: the three models, the on-disk apply (overlay form and
//! flattened) and the kernel's merged view of the converted layers agree, on a few hundred
//! pseudo-random layer stacks (fixed seed, so a failure reproduces).

use spinup::check::layers_case::{decode_layers, models_agree, overlay_kernel_agrees};
use spinup::testing::require_root;

/// splitmix64: a reproducible byte stream for the op decoder.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

/// Op bytes for `decode_layers` biased towards valid stacks: 1 to 5 layers of 1 to 8 entries
/// over a small alphabet (so paths collide, shadow and delete each other): directories are
/// named `a` or `b`, leaves `c`, `d`, `e` (or a directory name, now and then, to replace one
/// type by another across layers); hardlinks point at a file of the same layer.
fn stack(seed: u64) -> Vec<u8> {
    let r = bytes(seed, 1024);
    let mut it = r.into_iter();
    let mut next = move || it.next().unwrap_or(0);
    let mut out = Vec::new();
    let layers = 1 + next() % 5;
    for l in 0..layers {
        if l > 0 {
            out.push(0);
        }
        let mut files: Vec<Vec<u8>> = Vec::new();
        for _ in 0..1 + next() % 8 {
            let op = [1u8, 2, 2, 2, 3, 4, 5, 5, 6, 8, 9][next() as usize % 11];
            let depth = next() % 3;
            let mut name = vec![depth];
            for _ in 0..depth {
                name.push(next() % 2);
            }
            let dir_like = matches!(op, 1 | 6 | 9);
            let leaf = if dir_like || next() % 8 == 0 {
                next() % 2
            } else {
                2 + next() % 3
            };
            name.push(leaf);
            match op {
                4 => {
                    let Some(t) = files.first().cloned() else {
                        continue;
                    };
                    out.push(4);
                    out.extend(&name);
                    out.extend(t);
                }
                2 | 9 => {
                    out.push(op);
                    out.extend(&name);
                    out.push(next());
                    if op == 2 {
                        files.push(name);
                    }
                }
                3 => {
                    out.push(3);
                    out.extend(&name);
                    out.extend([0, next() % 5]);
                }
                _ => {
                    out.push(op);
                    out.extend(&name);
                }
            }
        }
    }
    out
}

#[test]
fn models_agree_on_thousands_of_stacks() {
    let (mut accepted, mut raw_accepted) = (0, 0);
    for seed in 0..3000u64 {
        if models_agree(&decode_layers(&stack(seed))).is_some() {
            accepted += 1;
        }
        // Unbiased op bytes too: mostly refused stacks, whose refusals must agree.
        if models_agree(&decode_layers(&bytes(seed, 24 + (seed % 64) as usize))).is_some() {
            raw_accepted += 1;
        }
    }
    eprintln!(
        "{accepted} biased and {raw_accepted} unbiased of 3000 each accepted; the models agree on all"
    );
    assert!(
        accepted > 1000,
        "only {accepted} stacks were valid: the generator needs tuning"
    );
}

#[test]
fn disk_and_kernel_agree_with_the_models_on_hundreds_of_stacks() {
    if !require_root("disk_and_kernel_agree_with_the_models_on_hundreds_of_stacks") {
        return;
    }
    let before = std::fs::read("/proc/self/mountinfo").unwrap();
    let mut mounted = 0;
    for seed in 0..700u64 {
        let layers = decode_layers(&stack(seed ^ 0x5eed));
        if models_agree(&layers).is_some() {
            mounted += 1;
        }
        overlay_kernel_agrees(&layers);
    }
    eprintln!("{mounted} of 700 stacks applied and mounted; disk, kernel and models agree on all");
    assert!(mounted >= 250, "{mounted} stacks mounted");
    assert_eq!(std::fs::read("/proc/self/mountinfo").unwrap(), before);
}
