//! Run-time choice of instruction set for the augmentation kernels.
//!
//! The hot loops of the transforms (gathers, coordinate maps, smoothing, intensity curves, noise,
//! float conversions) are compiled several times by [`multiversion`], once per instruction set
//! in [`dispatched!`]'s list (AVX-512, AVX2 with FMA, the portable baseline), and the best one
//! the CPU has is chosen the first time a kernel runs.
//!
//! **Results do not depend on the instruction set.** Every version performs the same IEEE-754
//! operations on the same values in the same order: the kernels are written so that the
//! compiler vectorises across voxels, never reassociating a sum, and no version fuses a multiply
//! and an add (Rust never contracts them on its own). The same seed therefore gives bit-identical
//! samples on machines with and without AVX-512 or AVX2; the tests compare every kernel with
//! its scalar reference bit for bit.

/// Compiles the function that follows once per supported instruction set, dispatching at run
/// time (one atomic load per call after the first).
macro_rules! dispatched {
    ($($item:tt)*) => {
        #[multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma+bmi1+bmi2+lzcnt+popcnt",
            "x86_64+avx2+fma+bmi1+bmi2+lzcnt+popcnt",
            "aarch64+neon",
        ))]
        $($item)*
    };
}
pub(crate) use dispatched;

dispatched! {
    /// The instruction set the augmentation kernels run with on this CPU: `"avx512"`,
    /// `"avx2"`, `"neon"` or `"portable"`.
    ///
    /// ```
    /// let level = voxload::augment::kernel_level();
    /// assert!(["avx512", "avx2", "neon", "portable"].contains(&level));
    /// ```
    #[must_use]
    pub fn kernel_level() -> &'static str {
        multiversion::target::match_target! {
            "x86_64+avx512f" => "avx512",
            "x86_64+avx2" => "avx2",
            "aarch64+neon" => "neon",
            _ => "portable",
        }
    }
}
