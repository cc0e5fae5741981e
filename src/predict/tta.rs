//! Combining the test-time variants of each inference window (see
//! [`crate::augment::TestAugment`]) before the window goes to a [`super::PredictionWriter`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ndarray::{Array4, ArrayView4};

use crate::augment::{TestAugment, Variant};
use crate::{Error, Result};

/// One window's variants so far: folded in variant order, so the result never depends on the
/// order they arrive in.
struct Pending {
    combined: Array4<f64>,
    /// The number of variants folded (variants `0 … next − 1`).
    next: usize,
    /// Undone variants that arrived ahead of their turn.
    early: Vec<Option<Array4<f32>>>,
}

/// Gathers each window's variant predictions, undoes each variant and combines them; a window
/// is handed back once all its variants are in. `add` may be called from many threads, the
/// variants of a window in any order: they are folded in variant order all the same (a variant
/// that arrives early waits, undone, for its turn), so the result is bit-identical whatever
/// the arrival order.
///
/// ```
/// use ndarray::{Array3, Axis};
/// use voxload::augment::{Combine, TestAugment};
/// use voxload::predict::VariantCombiner;
///
/// let tta = TestAugment::new(Some(8), Combine::Mean, false)?;
/// let combiner = VariantCombiner::new(tta.clone());
/// let window = Array3::from_shape_fn((2, 4, 4), |(z, y, x)| (z + y * x) as f32);
/// let mut done = None;
/// for (number, variant) in tta.variants().iter().enumerate() {
///     // An identity model: the prediction is the variant of the window it saw.
///     let prediction = variant.apply(&window).insert_axis(Axis(0));
///     done = combiner.add(0, 17, (number, *variant), prediction.view())?;
/// }
/// assert_eq!(done.unwrap().index_axis(Axis(0), 0), window);
/// assert_eq!(combiner.pending(), 0);
/// # Ok::<(), voxload::Error>(())
/// ```
pub struct VariantCombiner {
    tta: TestAugment,
    pending: Mutex<PendingWindows>,
}

/// Windows with some variants in, by `(volume, window index)`.
type PendingWindows = HashMap<(usize, u64), Arc<Mutex<Pending>>>;

impl VariantCombiner {
    /// A combiner of `tta`'s variants.
    #[must_use]
    pub fn new(tta: TestAugment) -> Self {
        VariantCombiner {
            tta,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// The variants combined.
    #[must_use]
    pub fn test_augment(&self) -> &TestAugment {
        &self.tta
    }

    /// Windows with some but not all variants in.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Adds the prediction `(C, d, h', w')` of variant `(number, variant)` of window `window`
    /// (its index in the grid) of volume `volume`; returns the combined prediction `(C, d, h, w)`
    /// when it was the window's last variant.
    ///
    /// # Errors
    /// [`Error::Geometry`] for a variant that is not this combiner's (another `AUG_NUM`), a
    /// variant given twice, or a prediction whose shape differs from the window's others.
    pub fn add(
        &self,
        volume: usize,
        window: u64,
        (number, variant): (usize, Variant),
        prediction: ArrayView4<'_, f32>,
    ) -> Result<Option<Array4<f32>>> {
        if self.tta.variants().get(number) != Some(&variant) {
            return Err(Error::Geometry(format!(
                "window {window}: test-time variant {number} ({variant:?}) is not one of the {} variants of this configuration's INFERENCE.AUG_NUM; predict with the loader of the same configuration",
                self.tta.len()
            )));
        }
        let undone = variant.undo(prediction);
        let entry = {
            let mut map = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let dim = undone.raw_dim();
            Arc::clone(map.entry((volume, window)).or_insert_with(|| {
                Arc::new(Mutex::new(Pending {
                    combined: self.tta.start([dim[0], dim[1], dim[2], dim[3]]),
                    next: 0,
                    early: (0..self.tta.len()).map(|_| None).collect(),
                }))
            }))
        };
        let mut guard = entry.lock().unwrap_or_else(PoisonError::into_inner);
        let p = &mut *guard;
        if number < p.next || p.early[number].is_some() {
            return Err(Error::Geometry(format!(
                "window {window}: test-time variant {number} was given twice"
            )));
        }
        if undone.shape() != p.combined.shape() {
            return Err(Error::Geometry(format!(
                "window {window}: test-time variant {number}'s prediction has shape {:?} once undone, the window's others {:?}",
                undone.shape(),
                p.combined.shape()
            )));
        }
        p.early[number] = Some(undone);
        while let Some(ready) = p.early.get_mut(p.next).and_then(Option::take) {
            self.tta.fold(&mut p.combined, ready.view())?;
            p.next += 1;
        }
        if p.next != self.tta.len() {
            return Ok(None);
        }
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(volume, window));
        let combined = self.tta.finish(&p.combined);
        drop(guard);
        Ok(Some(combined))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::Combine;
    use ndarray::{Array3, Axis};

    #[test]
    fn errors_name_the_window() {
        let tta = TestAugment::new(Some(4), Combine::Max, false).unwrap();
        let c = VariantCombiner::new(tta.clone());
        let w = Array3::<f32>::zeros((1, 2, 2)).insert_axis(Axis(0));
        let v = tta.variants()[1];
        assert!(c.add(0, 3, (1, v), w.view()).unwrap().is_none());
        let twice = c.add(0, 3, (1, v), w.view()).unwrap_err().to_string();
        assert!(
            twice.contains("window 3") && twice.contains("twice"),
            "{twice}"
        );
        let wrong = c.add(0, 3, (2, v), w.view()).unwrap_err().to_string();
        assert!(wrong.contains("AUG_NUM"), "{wrong}");
        let shape = c
            .add(
                0,
                3,
                (0, tta.variants()[0]),
                Array4::zeros((1, 1, 2, 3)).view(),
            )
            .unwrap_err();
        assert!(shape.to_string().contains("shape"), "{shape}");
        assert_eq!(c.pending(), 1);
    }
}
