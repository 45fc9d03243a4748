//! The app's config hook: the spec's `config_hook`, or the seed's
//! `scripts/updateconfig.py` when the staged app has it.

use std::path::Path;

use debpipe_core::AppSpec;

use crate::Staged;

/// The seed's convention: postinst runs `scripts/updateconfig.py` when the
/// staged app has one and the spec names no other `config_hook`.
pub const SEED_HOOK: &str = "scripts/updateconfig.py";

/// Whether the staged app at `root` has the seed's hook ([`SEED_HOOK`]).
pub(crate) fn has_seed_hook(spec: &AppSpec, root: &Path) -> bool {
    root.join(spec.app_dir.trim_start_matches('/'))
        .join(SEED_HOOK)
        .is_file()
}

/// The hook postinst runs: the spec's `config_hook`, else the seed's when
/// the stage has it.
pub fn config_hook<'a>(spec: &'a AppSpec, staged: &Staged) -> Option<&'a str> {
    spec.config_hook
        .as_deref()
        .or(staged.seed_hook.then_some(SEED_HOOK))
}
