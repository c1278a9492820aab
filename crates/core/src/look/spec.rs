//! Looks as people name them: a look's name and its options, each named,
//! ranged and checked here once for every front end. The command line makes
//! its flags from [`LOOK_OPTIONS`], Python reads its keywords by the same
//! names, the benches name looks; all of them fill a [`LookSpec`] and build
//! it. A new option is one entry in [`LOOK_OPTIONS`] and one line where
//! [`LookSpec::build`] hands it to its look.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Dither, DitherMethod, GradientLook, Look, RemapLook, ShiftLook, ShiftOptions, SoftLook};
use crate::error::BuildError;

/// The looks, by the name the command line, Python and recipes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum LookName {
    /// [`ShiftLook`].
    Shift,
    /// [`SoftLook`].
    Soft,
    /// [`RemapLook`].
    Remap,
    /// [`GradientLook`].
    Gradient,
}

impl LookName {
    /// Every look, in the order help lists them.
    pub const ALL: [LookName; 4] = [LookName::Shift, LookName::Soft, LookName::Remap, LookName::Gradient];

    /// Its name: `shift`, `soft`, `remap`, `gradient`.
    pub fn as_str(self) -> &'static str {
        match self {
            LookName::Shift => "shift",
            LookName::Soft => "soft",
            LookName::Remap => "remap",
            LookName::Gradient => "gradient",
        }
    }

    /// What it does, in a line.
    pub fn about(self) -> &'static str {
        match self {
            LookName::Shift => {
                "Move each colour cluster towards its palette colour in CIELAB (the original service's look)"
            }
            LookName::Soft => {
                "The shift look with cluster boundaries blended where the image is smooth: no false contours"
            }
            LookName::Remap => {
                "Every pixel becomes its nearest palette colour (with --dither, mixed in a fine pattern)"
            }
            LookName::Gradient => {
                "A gradient map: the palette sorted by lightness becomes a ramp; each pixel's lightness picks its colour"
            }
        }
    }

    /// The look named `name`, if there is one.
    pub fn parse(name: &str) -> Option<LookName> {
        LookName::ALL.into_iter().find(|look| look.as_str() == name)
    }
}

/// What values an option takes.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum OptionKind {
    /// A whole number in `min..=max`.
    Integer {
        /// Smallest value.
        min: u64,
        /// Largest value.
        max: u64,
        /// Its default, where the help shows one.
        default: Option<u64>,
    },
    /// A number in `min..=max`; `max` may be infinite ("at least `min`").
    Number {
        /// Smallest value.
        min: f32,
        /// Largest value, or `f32::INFINITY`.
        max: f32,
        /// Its default.
        default: f32,
    },
    /// One of `methods` (name, what it does); given bare, `bare`.
    Method {
        /// The names and what each does.
        methods: &'static [(&'static str, &'static str)],
        /// The method a bare flag (or Python's `True`) means.
        bare: &'static str,
    },
}

impl OptionKind {
    /// What a value must be, e.g. "a number from 0 to 1".
    pub fn expected(&self) -> String {
        match *self {
            OptionKind::Integer { min, max, .. } => format!("a whole number from {min} to {max}"),
            OptionKind::Number { min, max, .. } if max.is_finite() => format!("a number from {min} to {max}"),
            OptionKind::Number { min, .. } => format!("a number of at least {min}"),
            OptionKind::Method { methods, .. } => {
                let names: Vec<&str> = methods.iter().map(|(name, _)| *name).collect();
                format!("one of {}", names.join(", "))
            }
        }
    }

    /// Why `value` is not one of this kind's, if it is not: the reason
    /// [`BuildError::Option`] carries, e.g. "must be between 0 and 1, not 2".
    pub fn check(&self, value: &OptionValue) -> Result<(), String> {
        match (*self, value) {
            (OptionKind::Integer { min, max, .. }, OptionValue::Integer(value)) => {
                if (min..=max).contains(value) {
                    Ok(())
                } else {
                    Err(format!("must be between {min} and {max}, not {value}"))
                }
            }
            (OptionKind::Number { min, max, .. }, OptionValue::Number(value)) => {
                if value.is_finite() && (min..=max).contains(value) {
                    Ok(())
                } else if max.is_finite() {
                    Err(format!("must be between {min} and {max}, not {value}"))
                } else {
                    Err(format!("must be a number of at least {min}, not {value}"))
                }
            }
            (OptionKind::Method { methods, .. }, OptionValue::Method(name)) => {
                if methods.iter().any(|(method, _)| method == name) {
                    Ok(())
                } else {
                    Err(format!("must be {}, not {name:?}", self.expected()))
                }
            }
            _ => Err(format!("must be {}", self.expected())),
        }
    }
}

/// A value given to an option.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    /// For [`OptionKind::Integer`].
    Integer(u64),
    /// For [`OptionKind::Number`].
    Number(f32),
    /// For [`OptionKind::Method`]: a method's name.
    Method(String),
}

/// An option some looks take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LookOption {
    /// Its name: Python's keyword, and with `-` for `_` the command line's
    /// flag (`max_k`, `--max-k`).
    pub name: &'static str,
    /// How help writes its value, e.g. `K`.
    pub value_name: &'static str,
    /// What it does, as the command line's help says it.
    pub help: &'static str,
    /// Its values.
    pub kind: OptionKind,
    /// The looks that take it.
    pub looks: &'static [LookName],
    /// An option it needs given with it, if any.
    pub requires: Option<&'static str>,
    /// Why it is deprecated, where it is: the command line warns with it
    /// and Python raises a `DeprecationWarning` when it is given.
    pub deprecated: Option<&'static str>,
}

impl LookOption {
    /// The command line's flag for it, without the dashes: `max-k`.
    pub fn flag(&self) -> String {
        self.name.replace('_', "-")
    }
}

const SHIFT_AND_SOFT: &[LookName] = &[LookName::Shift, LookName::Soft];
const REMAP: &[LookName] = &[LookName::Remap];
const DEFAULTS: ShiftOptions = ShiftOptions::DEFAULT;
/// `analysis_size`'s default, as the recipe names it.
pub(crate) const ANALYSIS_SIZE: u32 = 256;

/// Every option of every look, in the order help lists them.
pub const LOOK_OPTIONS: &[LookOption] = &[
    LookOption {
        name: "dither",
        value_name: "METHOD",
        help: "With --look remap: mix palette colours so areas keep their colour from a distance, by \
               error diffusion (floyd-steinberg) or a regular 8x8 pattern (ordered); palettes of at most 256 colours.",
        kind: OptionKind::Method {
            methods: &[
                ("floyd-steinberg", "Floyd–Steinberg error diffusion"),
                ("ordered", "An 8x8 Bayer pattern"),
            ],
            bare: "floyd-steinberg",
        },
        looks: REMAP,
        requires: None,
        deprecated: None,
    },
    LookOption {
        name: "dither_strength",
        value_name: "0..1",
        help: "With --dither: how strongly, from 0 (none) to 1 (full).",
        kind: OptionKind::Number { min: 0.0, max: 1.0, default: 1.0 },
        looks: REMAP,
        requires: Some("dither"),
        deprecated: None,
    },
    LookOption {
        name: "max_k",
        value_name: "K",
        help: "Shift and soft looks: most clusters, and so palette colours, used (1-255).",
        kind: OptionKind::Integer { min: 1, max: 255, default: Some(DEFAULTS.max_k as u64) },
        looks: SHIFT_AND_SOFT,
        requires: None,
        deprecated: None,
    },
    LookOption {
        name: "lightness",
        value_name: "X",
        help: "Shift and soft looks: share of the lightness difference applied (0 or more).",
        kind: OptionKind::Number { min: 0.0, max: f32::INFINITY, default: DEFAULTS.lightness },
        looks: SHIFT_AND_SOFT,
        requires: None,
        deprecated: None,
    },
    LookOption {
        name: "blend",
        value_name: "X",
        help: "Shift and soft looks: weight of the recoloured image against the original, 0-1.",
        kind: OptionKind::Number { min: 0.0, max: 1.0, default: DEFAULTS.blend },
        looks: SHIFT_AND_SOFT,
        requires: None,
        deprecated: None,
    },
    LookOption {
        name: "saturation",
        value_name: "X",
        help: "Shift and soft looks: HSV saturation multiplier applied last (0 or more).",
        kind: OptionKind::Number { min: 0.0, max: f32::INFINITY, default: DEFAULTS.saturation },
        looks: SHIFT_AND_SOFT,
        requires: None,
        deprecated: None,
    },
    LookOption {
        name: "analysis_size",
        value_name: "N",
        help: "Deprecated: no byte depends on it since output version 4 (the clustering's starts run on a \
               weighted coreset of every colour); accepted with a warning, and named in the recipe, so that \
               scripts keep their keys [default: 256].",
        kind: OptionKind::Integer { min: 1, max: u32::MAX as u64, default: None },
        looks: SHIFT_AND_SOFT,
        requires: None,
        deprecated: Some("no longer changes the output (output version 4 on)"),
    },
];

/// The option named `name`.
pub fn look_option(name: &str) -> Option<&'static LookOption> {
    LOOK_OPTIONS.iter().find(|option| option.name == name)
}

/// Checks `value` for the option named `name`: the reason it is out of
/// range, if it is. The looks' own constructors check through this.
pub(crate) fn check_value(name: &str, value: &OptionValue) -> Result<(), String> {
    match look_option(name) {
        Some(option) => option.kind.check(value),
        None => Err("is not an option of any look".into()),
    }
}

/// Why a [`LookSpec`] cannot be built. Each front end words these its own
/// way (`--max-k goes with --look shift or soft`, `max_k goes with
/// look='shift' or 'soft'`), so they carry what was wrong, not a sentence.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LookSpecError {
    /// No look has this name.
    #[error("no look is named {0:?}")]
    UnknownLook(String),
    /// No look has an option of this name.
    #[error("no look has an option {0:?}")]
    UnknownOption(String),
    /// The option belongs to other looks.
    #[error("{} goes with the {} look", option.name, looks(option.looks))]
    OtherLook {
        /// The option given.
        option: &'static LookOption,
    },
    /// The option needs another given with it.
    #[error("{} goes with {}", option.name, option.requires.unwrap_or_default())]
    Requires {
        /// The option given.
        option: &'static LookOption,
    },
    /// The value is out of the option's range.
    #[error(transparent)]
    Invalid(#[from] BuildError),
}

fn looks(looks: &[LookName]) -> String {
    looks.iter().map(|look| look.as_str()).collect::<Vec<_>>().join(" or ")
}

/// A look named and configured: fill it with [`LookSpec::set`], then
/// [`LookSpec::build`] checks what goes together and makes the look.
#[derive(Clone, Debug, PartialEq)]
pub struct LookSpec {
    look: LookName,
    values: BTreeMap<&'static str, OptionValue>,
}

impl LookSpec {
    /// The look `look` with its defaults.
    pub fn new(look: LookName) -> LookSpec {
        LookSpec { look, values: BTreeMap::new() }
    }

    /// The look named `name` with its defaults.
    pub fn named(name: &str) -> Result<LookSpec, LookSpecError> {
        LookName::parse(name).map(LookSpec::new).ok_or_else(|| LookSpecError::UnknownLook(name.into()))
    }

    /// Which look.
    pub fn look(&self) -> LookName {
        self.look
    }

    /// Gives option `name` a value: it must be an option of this look and
    /// in its range.
    pub fn set(&mut self, name: &str, value: OptionValue) -> Result<&mut Self, LookSpecError> {
        let option = look_option(name).ok_or_else(|| LookSpecError::UnknownOption(name.into()))?;
        if !option.looks.contains(&self.look) {
            return Err(LookSpecError::OtherLook { option });
        }
        option.kind.check(&value).map_err(|reason| BuildError::Option { option: option.name, reason })?;
        // -0 is 0: the same bytes, so the same recipe and key (-0 + 0 is +0).
        let value = match value {
            OptionValue::Number(number) => OptionValue::Number(number + 0.0),
            value => value,
        };
        self.values.insert(option.name, value);
        Ok(self)
    }

    /// `--analysis-size`, where given: an engine setting, not the look's.
    pub fn analysis_size(&self) -> Option<u32> {
        self.integer("analysis_size").map(|side| side as u32)
    }

    /// The deprecated options given, in the table's order: what a caller
    /// warns about.
    pub fn deprecated_given(&self) -> impl Iterator<Item = &'static LookOption> + '_ {
        LOOK_OPTIONS
            .iter()
            .filter(|option| option.deprecated.is_some() && self.values.contains_key(option.name))
    }

    /// Makes the look, once every option given has what it requires.
    pub fn build(&self) -> Result<Arc<dyn Look>, LookSpecError> {
        for name in self.values.keys() {
            if let Some(option) = look_option(name)
                && let Some(required) = option.requires
                && !self.values.contains_key(required)
            {
                return Err(LookSpecError::Requires { option });
            }
        }
        let shift = || ShiftOptions {
            max_k: self.integer("max_k").map_or(DEFAULTS.max_k, |k| k as usize),
            lightness: self.number("lightness").unwrap_or(DEFAULTS.lightness),
            blend: self.number("blend").unwrap_or(DEFAULTS.blend),
            saturation: self.number("saturation").unwrap_or(DEFAULTS.saturation),
        };
        Ok(match self.look {
            LookName::Shift => Arc::new(ShiftLook::new(shift())?),
            LookName::Soft => Arc::new(SoftLook::new(shift())?),
            LookName::Remap => match self.values.get("dither") {
                Some(OptionValue::Method(method)) => Arc::new(RemapLook::dithered(Dither {
                    method: if method == DitherMethod::Ordered.name() {
                        DitherMethod::Ordered
                    } else {
                        DitherMethod::FloydSteinberg
                    },
                    strength: self.number("dither_strength").unwrap_or(1.0),
                })?),
                _ => Arc::new(RemapLook::new(false)),
            },
            LookName::Gradient => Arc::new(GradientLook),
        })
    }

    fn integer(&self, name: &str) -> Option<u64> {
        match self.values.get(name) {
            Some(OptionValue::Integer(value)) => Some(*value),
            _ => None,
        }
    }

    fn number(&self, name: &str) -> Option<f32> {
        match self.values.get(name) {
            Some(OptionValue::Number(value)) => Some(*value),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_belong_to_their_looks_and_keep_to_their_ranges() {
        let mut soft = LookSpec::named("soft").unwrap();
        soft.set("max_k", OptionValue::Integer(3)).unwrap().set("blend", OptionValue::Number(0.5)).unwrap();
        assert_eq!(soft.build().unwrap().options()["max_k"], 3);
        assert!(matches!(
            LookSpec::new(LookName::Remap).set("max_k", OptionValue::Integer(3)),
            Err(LookSpecError::OtherLook { option }) if option.name == "max_k"
        ));
        let error = LookSpec::new(LookName::Shift).set("blend", OptionValue::Number(2.0)).unwrap_err();
        assert_eq!(error.to_string(), "invalid option blend: must be between 0 and 1, not 2");
        let error = LookSpec::new(LookName::Shift).set("lightness", OptionValue::Number(-1.0)).unwrap_err();
        assert_eq!(error.to_string(), "invalid option lightness: must be a number of at least 0, not -1");
        assert!(matches!(LookSpec::named("blur"), Err(LookSpecError::UnknownLook(_))));
    }

    #[test]
    fn dither_strength_needs_dither_and_a_spec_builds_what_the_constructors_do() {
        let mut remap = LookSpec::new(LookName::Remap);
        remap.set("dither_strength", OptionValue::Number(0.5)).unwrap();
        assert!(matches!(remap.build(), Err(LookSpecError::Requires { .. })));
        remap.set("dither", OptionValue::Method("ordered".into())).unwrap();
        let dithered = RemapLook::dithered(Dither { method: DitherMethod::Ordered, strength: 0.5 }).unwrap();
        assert_eq!(remap.build().unwrap().options(), dithered.options());
        assert_eq!(LookSpec::new(LookName::Shift).build().unwrap().options(), ShiftLook::default().options());
        assert_eq!(LookSpec::new(LookName::Soft).build().unwrap().options(), SoftLook::default().options());
    }
}
