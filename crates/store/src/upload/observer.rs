//! What a caller sees of a job being stored: [`Observer`], and the ways
//! observers combine (a pair sees everything in turn, an absent one nothing).

use variegate_core::Variation;

use crate::manifest::Outcome;

/// Sees a job go by: each variation as it comes out of the engine (before
/// it is stored), and each outcome as soon as it is known. Both do nothing
/// by default; `()` is the observer that sees nothing.
pub trait Observer {
    /// A variation came out of the engine. Take what you need from it (its
    /// preview, say) before its bytes go to the store.
    fn made(&mut self, _variation: &mut Variation) {}
    /// A variation's fate is known.
    fn finished(&mut self, _outcome: &Outcome) {}
}

impl Observer for () {}

/// Each observer sees every event, the first first (it may take a
/// variation's preview before the second sees it).
impl<A: Observer, B: Observer> Observer for (A, B) {
    fn made(&mut self, variation: &mut Variation) {
        self.0.made(variation);
        self.1.made(variation);
    }
    fn finished(&mut self, outcome: &Outcome) {
        self.0.finished(outcome);
        self.1.finished(outcome);
    }
}

impl<T: Observer + ?Sized> Observer for &mut T {
    fn made(&mut self, variation: &mut Variation) {
        (**self).made(variation);
    }
    fn finished(&mut self, outcome: &Outcome) {
        (**self).finished(outcome);
    }
}

/// An observer that may be absent (a contact sheet not asked for).
impl<T: Observer> Observer for Option<T> {
    fn made(&mut self, variation: &mut Variation) {
        if let Some(observer) = self {
            observer.made(variation);
        }
    }
    fn finished(&mut self, outcome: &Outcome) {
        if let Some(observer) = self {
            observer.finished(outcome);
        }
    }
}
