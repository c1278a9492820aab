//! The memory budget: one estimate ([`MemoryPlan`]) of what a run holds,
//! checked against the engine's budget in one place, [`Engine::within_budget`]:
//! before an image's pixels are allocated (the least any run of it needs)
//! and again when its run starts (its palettes and counted colours).

use super::Engine;
use crate::decode::{ImageHeader, SourceImage};
use crate::engine::memory::MemoryPlan;
use crate::error::OverBudget;
use crate::limits::MemoryEstimate;
use crate::palette::Palette;
use crate::resize::fit;

impl Engine {
    /// What a run of `palettes` palettes on an image of this header would
    /// hold, all threads making variations at once; see
    /// [`MemoryPlan::estimate`] for the bound.
    pub fn memory_plan(&self, header: &ImageHeader, palettes: &[Palette]) -> MemoryPlan {
        let (inner, config) = (&*self.inner, &self.inner.config);
        let declared = (header.width, header.height);
        MemoryPlan {
            file_bytes: header.file_bytes,
            declared,
            recoloured: config.max_side.map_or(declared, |side| fit(declared.0, declared.1, side)),
            channels: header.channels,
            distinct_colours: None,
            palettes: palettes.len(),
            lanes: self.threads(),
            threads: self.threads(),
            waiting: inner.channel_capacity + config.downstream,
            thumbnail: config.thumbnail,
            sizes: std::array::from_fn(|i| config.sizes.get(i).copied().unwrap_or(0)),
            previews: config.previews,
            look_per_pixel: config.look.memory_per_pixel(palettes),
            encoder_per_pixel: config.format.encoder_bytes_per_pixel(),
        }
    }

    /// How many of `palettes` variations of `image` this engine makes at
    /// once within its memory budget: its thread count, or fewer (a run
    /// warns) when their frames would not fit. The image's colours are
    /// counted (one pass over its pixels) only when the worst case, every
    /// pixel a colour of its own, does not fit.
    pub fn variations_at_once(&self, image: &SourceImage, palettes: &[Palette]) -> Result<usize, OverBudget> {
        let inner = &*self.inner;
        let header = ImageHeader {
            width: image.width(),
            height: image.height(),
            channels: image.channels(),
            file_bytes: 0,
        };
        let worst = self.memory_plan(&header, palettes);
        if let Ok(estimate) = self.within_budget(&worst, String::new, false) {
            return Ok(estimate.lanes);
        }
        let distinct = inner.pool.install(|| crate::analyse::indexed::distinct_colours(image)) as u64;
        let plan = MemoryPlan { distinct_colours: Some(distinct), ..worst };
        match plan.lanes_within(self.max_memory) {
            Some(lanes) => Ok(lanes),
            // Not even one at a time: refused, with one lane's estimate.
            None => {
                let what = || format!("{}: recolouring {} palettes", image.name(), palettes.len());
                self.within_budget(&MemoryPlan { lanes: 1, ..plan }, what, false)
                    .map(|estimate| estimate.lanes)
            }
        }
    }

    /// Whether the run `plan` describes fits the budget: its estimate if
    /// so, and if not why, naming `what` ("needs at least" when `at_least`,
    /// the bound before an image is decoded).
    fn within_budget(
        &self,
        plan: &MemoryPlan,
        what: impl FnOnce() -> String,
        at_least: bool,
    ) -> Result<MemoryEstimate, OverBudget> {
        let estimate = plan.estimate();
        let budget = self.max_memory;
        match estimate.total() <= budget {
            true => Ok(estimate),
            false => Err(OverBudget { what: what(), estimate, budget, at_least }),
        }
    }

    /// The least any run of an image of `header` needs (one palette, one
    /// colour), within the budget: checked before its pixels are allocated.
    pub(super) fn check_least(&self, header: &ImageHeader, name: &str) -> Result<(), OverBudget> {
        let least =
            MemoryPlan { lanes: 1, palettes: 1, distinct_colours: Some(1), ..self.memory_plan(header, &[]) };
        let what = || format!("{name}: recolouring {}x{} pixels", header.width, header.height);
        self.within_budget(&least, what, true).map(|_| ())
    }
}
