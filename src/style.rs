//! Colour: whether to use it, and how an outcome or an error is painted.
//!
//! The decision is a pure function of `--color`, whether the stream is a terminal and the
//! environment's conventions (`NO_COLOR`, <https://no-color.org>; `CLICOLOR_FORCE`), read once at
//! the edge. In `auto`, a file or a pipe is never coloured. Styles are anstyle's (already in the
//! tree through clap), so the escape codes are the ones clap's own help uses.
//!
//! Which outcome takes which tone is the report's to say (`ItemOutcome::tone`): recovered and
//! retried green, failed and still failing red, unknown, not sent and pending yellow; errors red.

use anstyle::{AnsiColor, Style};

/// `--color`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// What the environment says about colour, read once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ColorEnv {
    /// `NO_COLOR` is set and not empty.
    pub no_color: bool,
    /// `CLICOLOR_FORCE` is set and not `0`.
    pub force: bool,
}

impl ColorEnv {
    /// The process environment's.
    pub fn read() -> ColorEnv {
        ColorEnv {
            no_color: anstyle_query::no_color(),
            force: anstyle_query::clicolor_force(),
        }
    }
}

/// Whether to colour a stream: `--color always|never` wins; in `auto`, `NO_COLOR` turns colour
/// off, `CLICOLOR_FORCE` on, and otherwise only a terminal gets it.
pub fn enabled(choice: ColorChoice, is_terminal: bool, env: ColorEnv) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if env.no_color => false,
        ColorChoice::Auto => env.force || is_terminal,
    }
}

/// How a piece of text reads: as it is, good (green), bad (red), a warning (yellow).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Bad,
    Warn,
}

/// Paints text, or leaves it as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Paint {
    on: bool,
}

impl Paint {
    /// No colour.
    pub fn none() -> Paint {
        Paint { on: false }
    }

    /// ANSI colour.
    pub fn ansi() -> Paint {
        Paint { on: true }
    }

    /// Colour when `on`.
    pub fn when(on: bool) -> Paint {
        Paint { on }
    }

    /// `text` in `tone`'s colour.
    pub fn tone(self, tone: Tone, text: &str) -> String {
        let colour = match tone {
            Tone::Plain => return text.to_string(),
            Tone::Good => AnsiColor::Green,
            Tone::Bad => AnsiColor::Red,
            Tone::Warn => AnsiColor::Yellow,
        };
        if !self.on {
            return text.to_string();
        }
        let style = Style::new().fg_color(Some(colour.into()));
        format!("{style}{text}{style:#}")
    }

    /// `error:` in red.
    pub fn error(self) -> String {
        self.tone(Tone::Bad, "error:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_in_auto_and_never_against_no_color() {
        let none = ColorEnv::default();
        let no_color = ColorEnv {
            no_color: true,
            force: false,
        };
        let force = ColorEnv {
            no_color: false,
            force: true,
        };
        use ColorChoice::*;
        let cases = [
            (Auto, true, none, true),
            (Auto, false, none, false),
            (Auto, true, no_color, false),
            (Auto, false, force, true),
            (
                Auto,
                true,
                ColorEnv {
                    no_color: true,
                    force: true,
                },
                false,
            ),
            (Always, false, no_color, true),
            (Never, true, force, false),
        ];
        for (choice, tty, env, want) in cases {
            assert_eq!(
                enabled(choice, tty, env),
                want,
                "{choice:?} tty={tty} {env:?}"
            );
        }
    }

    #[test]
    fn tones_take_their_colours_and_nothing_is_painted_when_off() {
        assert_eq!(
            Paint::ansi().tone(Tone::Good, "ok"),
            "\u{1b}[32mok\u{1b}[0m"
        );
        assert_eq!(
            Paint::ansi().tone(Tone::Warn, "hm"),
            "\u{1b}[33mhm\u{1b}[0m"
        );
        assert_eq!(Paint::ansi().tone(Tone::Plain, "x"), "x");
        assert_eq!(Paint::ansi().error(), "\u{1b}[31merror:\u{1b}[0m");
        for tone in [Tone::Plain, Tone::Good, Tone::Bad, Tone::Warn] {
            assert_eq!(Paint::none().tone(tone, "text"), "text");
        }
    }
}
