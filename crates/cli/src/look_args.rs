//! `--look` and the looks' options, as flags made from the engine's own
//! table ([`LOOK_OPTIONS`]): their names, ranges, defaults and help are
//! written once, in `variegate-core`, and a new option needs no edit here.

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};
use variegate_core::looks::{LOOK_OPTIONS, LookName, LookSpec, LookSpecError, OptionKind, OptionValue};

/// The look chosen on the command line, with the options given for it.
#[derive(Clone, Debug)]
pub struct LookArgs {
    pub spec: LookSpec,
}

const LOOK: &str = "look";

impl clap::Args for LookArgs {
    fn augment_args(command: Command) -> Command {
        let looks = LookName::ALL.map(|look| PossibleValue::new(look.as_str()).help(look.about()));
        let command = command.arg(
            Arg::new(LOOK)
                .long(LOOK)
                .help("How palettes recolour the image")
                .value_name("LOOK")
                .value_parser(PossibleValuesParser::new(looks))
                .default_value(LookName::Shift.as_str()),
        );
        LOOK_OPTIONS.iter().fold(command, |command, option| {
            let arg = Arg::new(option.name)
                .long(option.flag())
                .value_name(option.value_name)
                .help(option.help.trim_end_matches('.'))
                .action(ArgAction::Set);
            let arg = match option.requires {
                Some(required) => arg.requires(required),
                None => arg,
            };
            command.arg(match option.kind {
                OptionKind::Integer { min, max, default } => {
                    let arg = arg.value_parser(clap::value_parser!(u64).range(min..=max));
                    match default {
                        Some(default) => arg.default_value(default.to_string()),
                        None => arg,
                    }
                }
                OptionKind::Number { default, .. } => {
                    let kind = option.kind;
                    arg.value_parser(move |text: &str| number(text, kind))
                        .allow_negative_numbers(true)
                        .default_value(default.to_string())
                }
                OptionKind::Method { methods, bare } => arg
                    .value_parser(PossibleValuesParser::new(
                        methods.iter().map(|(name, help)| PossibleValue::new(*name).help(*help)),
                    ))
                    .num_args(0..=1)
                    .require_equals(true)
                    .default_missing_value(bare),
                _ => arg,
            })
        })
    }

    fn augment_args_for_update(command: Command) -> Command {
        Self::augment_args(command)
    }
}

/// A number within `kind`'s range, refused in clap's words.
fn number(text: &str, kind: OptionKind) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(value) if kind.check(&OptionValue::Number(value)).is_ok() => Ok(value),
        // 1e308 parses, as infinity: say what is wrong with it.
        Ok(value) if value.is_infinite() && text.parse::<f64>().is_ok_and(f64::is_finite) => {
            Err(format!("{text:?} is too large (a number up to {:e})", f32::MAX))
        }
        _ => Err(format!("{text:?} is not {}", kind.expected())),
    }
}

impl FromArgMatches for LookArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let name = matches.get_one::<String>(LOOK).map_or("shift", String::as_str);
        let mut spec = LookSpec::named(name).map_err(usage)?;
        for option in LOOK_OPTIONS {
            // Defaults are the look's own; only what was typed is set, so
            // that an option of another look is refused only when given.
            if matches.value_source(option.name) != Some(ValueSource::CommandLine) {
                continue;
            }
            let value = match option.kind {
                OptionKind::Integer { .. } => {
                    matches.get_one::<u64>(option.name).map(|v| OptionValue::Integer(*v))
                }
                OptionKind::Number { .. } => {
                    matches.get_one::<f32>(option.name).map(|v| OptionValue::Number(*v))
                }
                _ => matches.get_one::<String>(option.name).map(|v| OptionValue::Method(v.clone())),
            };
            if let Some(value) = value {
                spec.set(option.name, value).map_err(usage)?;
            }
        }
        Ok(LookArgs { spec })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

/// A look's option given where it does not belong, in the command line's words.
fn usage(error: LookSpecError) -> clap::Error {
    let message = match &error {
        LookSpecError::OtherLook { option } => {
            let looks: Vec<&str> = option.looks.iter().map(|look| look.as_str()).collect();
            format!("--{} goes with --look {}", option.flag(), looks.join(" or "))
        }
        LookSpecError::Requires { option } => {
            format!(
                "--{} goes with --{}",
                option.flag(),
                option.requires.unwrap_or_default().replace('_', "-")
            )
        }
        other => other.to_string(),
    };
    clap::Error::raw(clap::error::ErrorKind::ArgumentConflict, message)
}
