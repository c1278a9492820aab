//! The flag tables of docs/cli.md (`run`) and docs/batches.md (what `batch`
//! adds), made from the command's own definition: its help, defaults and
//! values, so from the engine's tables for the looks' options and the
//! formats' settings. A page whose table is not what the flags say fails
//! the test; `VARIEGATE_BLESS=1 cargo test -p variegate-cli reference`
//! writes it. Edit the flags' help, never the tables.

use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command, CommandFactory};

use crate::args::Cli;

/// Where each table goes: the page, and the subcommand whose flags it lists.
const TABLES: [(&str, &str); 2] = [("docs/cli.md", "run"), ("docs/batches.md", "batch")];
const BEGIN: &str = "<!-- flags: made from the command's help by crates/cli/src/reference.rs; \
                     VARIEGATE_BLESS=1 cargo test -p variegate-cli reference rewrites it -->";
const END: &str = "<!-- end of flags -->";

/// The table of `subcommand`'s flags; for `batch`, only those `run` lacks.
fn table(subcommand: &str) -> String {
    let mut cli = Cli::command();
    cli.build(); // settles each flag's number of values
    let find =
        |name: &str| cli.find_subcommand(name).cloned().unwrap_or_else(|| Command::new(name.to_owned()));
    let run = find("run");
    let command = find(subcommand);
    let mut table = String::from("| option | default | meaning |\n| --- | --- | --- |\n");
    for arg in command.get_arguments() {
        let shared = subcommand != "run" && run.get_arguments().any(|other| other.get_id() == arg.get_id());
        if arg.is_positional() || arg.is_hide_set() || shared || arg.get_id() == "help" {
            continue;
        }
        let (meaning, default) = meaning_and_default(arg);
        table.push_str(&format!("| {} | {} | {} |\n", cell(&usage(arg)), cell(&default), cell(&meaning)));
    }
    table
}

/// `--flag VALUE`, `--format png|jpeg|…`, `--dither[=METHOD]`, `-q, --quiet`.
fn usage(arg: &Arg) -> String {
    let long = arg.get_long().unwrap_or_default();
    let mut usage = match arg.get_short() {
        Some(short) => format!("`-{short}`, `--{long}"),
        None => format!("`--{long}"),
    };
    if arg.get_num_args().is_some_and(|n| n.takes_values()) && !matches!(arg.get_action(), ArgAction::SetTrue)
    {
        let values = arg.get_possible_values();
        let value = if values.is_empty() || values.len() > 4 {
            arg.get_value_names().map(|names| names.join(" ")).unwrap_or_else(|| "VALUE".into())
        } else {
            values.iter().map(|v| v.get_name()).collect::<Vec<_>>().join("|")
        };
        if arg.is_require_equals_set() {
            usage.push_str(&format!("[={value}]"));
        } else {
            usage.push_str(&format!(" {value}"));
        }
    }
    usage.push('`');
    usage
}

/// The help without its `[default: ...]`, with each possible value's own
/// help, and the default: clap's, the help's bracket, or "off" for a switch.
fn meaning_and_default(arg: &Arg) -> (String, String) {
    let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
    let (mut meaning, mut default) = match help.find(" [default: ") {
        Some(start) => {
            let end = help[start..].find(']').map_or(help.len(), |end| start + end);
            let default = help[start + " [default: ".len()..end].to_string();
            (format!("{}{}", &help[..start], &help[end + 1..]), default)
        }
        None => (help, String::new()),
    };
    let defaults: Vec<String> =
        arg.get_default_values().iter().map(|value| value.to_string_lossy().into_owned()).collect();
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        default = "off".into();
    } else if !defaults.is_empty() {
        default = format!("`{}`", defaults.join(", "));
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter_map(|value| value.get_help().map(|help| format!("`{}`: {help}", value.get_name())))
        .collect();
    if !values.is_empty() {
        meaning = format!("{}: {}", meaning.trim_end_matches('.'), values.join("; "));
    }
    if !meaning.ends_with('.') {
        meaning.push('.');
    }
    (meaning, default)
}

/// Markdown's table cell: no pipe, no HTML tag, no emphasis by accident.
fn cell(text: &str) -> String {
    let mut cell = String::new();
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => in_code = !in_code,
            '|' => cell.push('\\'),
            '<' if !in_code => {
                cell.push_str("&lt;");
                continue;
            }
            '*' if !in_code => cell.push('\\'),
            '\n' => {
                cell.push(' ');
                continue;
            }
            _ => {}
        }
        cell.push(c);
    }
    cell
}

/// `page` with its table between the markers made anew.
fn with_table(page: &str, table: &str, path: &Path) -> String {
    let begin = page.find(BEGIN).unwrap_or_else(|| panic!("{} has no {BEGIN}", path.display()));
    let end = page.find(END).unwrap_or_else(|| panic!("{} has no {END}", path.display()));
    format!("{}{BEGIN}\n{table}{}", &page[..begin], &page[end..])
}

#[test]
fn reference_tables_are_the_flags_help() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bless = std::env::var_os("VARIEGATE_BLESS").is_some();
    for (page, subcommand) in TABLES {
        let path = root.join(page);
        let written = std::fs::read_to_string(&path).unwrap();
        let made = with_table(&written, &table(subcommand), &path);
        if bless {
            std::fs::write(&path, &made).unwrap();
        } else {
            assert!(
                made == written,
                "{page}'s table of flags is not what `variegate {subcommand} --help` says: \
                 run VARIEGATE_BLESS=1 cargo test -p variegate-cli reference"
            );
        }
    }
}
