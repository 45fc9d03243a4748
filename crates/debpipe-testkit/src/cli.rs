//! The tools' command-line definitions, checked as clap recommends (its
//! derive tutorial, chapter 4): `Command::debug_assert` finds conflicting
//! flags, bad defaults and duplicate names that would otherwise only show
//! when a user hits them.

/// Define the unit test `verify_cli` for a tool's clap `Cli`:
///
/// ```ignore
/// #[cfg(test)]
/// mod tests {
///     use super::*;
///
///     debpipe_testkit::verify_cli!(Cli);
/// }
/// ```
///
/// It names `clap` as the calling crate sees it: every tool depends on clap
/// itself, and the test kit needs none.
#[macro_export]
macro_rules! verify_cli {
    ($cli:ty) => {
        #[test]
        fn verify_cli() {
            <$cli as ::clap::CommandFactory>::command().debug_assert();
        }
    };
}
