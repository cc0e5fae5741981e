//! PyTC's target option strings: parsing ([`std::str::FromStr`]) and writing back
//! ([`std::fmt::Display`]).
//!
//! PyTC dispatches on the string's first character and splits the rest at `-`. Every string in
//! the syntax PyTC gives a meaning to is accepted with that meaning; strings PyTC v1 fails on
//! are errors that say why, and so are strings it would swallow without meaning (a longer first
//! field such as `01`, extra fields it ignores, flags other than 0 or 1), which are typos.

use std::fmt;
use std::str::FromStr;

use super::{Affinity, AffinityVersion, Distance, Mode, TargetOpt, TARGET_KEY};
use crate::{Error, Result};

/// An [`Error::Config`] about option string `s` of `key`.
pub(crate) fn bad(key: &str, s: &str, reason: impl fmt::Display) -> Error {
    Error::Config {
        key: key.into(),
        reason: format!("`{s}`: {reason}"),
    }
}

/// Parses one `-`-separated field as Python's `int()` would (no spaces or `_`).
pub(crate) fn int(key: &str, s: &str, field: &str, what: &str) -> Result<i64> {
    field
        .parse()
        .map_err(|_| bad(key, s, format!("{what} `{field}` is not an integer")))
}

/// Parses one field as Python's `float()` would (no spaces or `_`).
pub(crate) fn float(key: &str, s: &str, field: &str, what: &str) -> Result<f64> {
    field
        .parse()
        .map_err(|_| bad(key, s, format!("{what} `{field}` is not a number")))
}

/// A 0/1 flag.
fn flag(s: &str, field: &str, what: &str) -> Result<bool> {
    match field {
        "0" => Ok(false),
        "1" => Ok(true),
        _ => Err(bad(
            TARGET_KEY,
            s,
            format!("{what} must be 0 or 1, not `{field}`"),
        )),
    }
}

fn mode(s: &str, field: &str) -> Result<Mode> {
    match field {
        "2d" => Ok(Mode::TwoD),
        "3d" => Ok(Mode::ThreeD),
        _ => Err(bad(
            TARGET_KEY,
            s,
            format!("mode must be `2d` or `3d`, not `{field}`"),
        )),
    }
}

/// The five fields `mode-padding-quantize-zres-erosion` of a distance option.
fn distance(s: &str, f: &[&str]) -> Result<Distance> {
    let z_resolution = float(TARGET_KEY, s, f[3], "z resolution")?;
    if !(1e-3..=1e3).contains(&z_resolution) {
        return Err(bad(
            TARGET_KEY,
            s,
            "z resolution must be between 0.001 and 1000",
        ));
    }
    let erosion = int(TARGET_KEY, s, f[4], "erosion")?;
    let erosion =
        u64::try_from(erosion).map_err(|_| bad(TARGET_KEY, s, "erosion must not be negative"))?;
    Ok(Distance {
        mode: mode(s, f[0])?,
        padding: flag(s, f[1], "padding")?,
        quantize: flag(s, f[2], "quantize")?,
        z_resolution,
        erosion,
    })
}

const DISTANCE_FORM: &str = "`5` or `5-mode-padding-quantize-zres-erosion` such as `5-3d-1-0-1.0-0` \
     (PyTC v1 needs all five fields; shorter forms such as its docs' `5-3d` fail in its seg2inst_edt)";

impl FromStr for TargetOpt {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let f: Vec<&str> = s.split('-').collect();
        let head = f[0];
        if head == "all" {
            return Err(bad(
                TARGET_KEY,
                s,
                "`all` is not a target: PyTC's dataset drops it from the end of the list (the user makes those targets)",
            ));
        }
        if head.len() != 1 || !head.as_bytes()[0].is_ascii_digit() {
            return Err(bad(
                TARGET_KEY,
                s,
                "the target type before the first `-` must be one digit, 0 to 9",
            ));
        }
        let rest = &f[1..];
        let count = |n: usize, form: &str| -> Result<()> {
            if f.len() == n {
                Ok(())
            } else {
                Err(bad(TARGET_KEY, s, format!("expected {form}")))
            }
        };
        Ok(match head {
            "0" => TargetOpt::Foreground {
                classes: rest
                    .iter()
                    .map(|c| int(TARGET_KEY, s, c, "foreground id"))
                    .collect::<Result<_>>()?,
            },
            "1" => match rest {
                [] => TargetOpt::Polarity { exclusive: false },
                [e] if int(TARGET_KEY, s, e, "exclusive flag")? != 0 => {
                    TargetOpt::Polarity { exclusive: true }
                }
                [_] => return Err(bad(
                    TARGET_KEY,
                    s,
                    "PyTC asserts the exclusive flag is non-zero; `1` is the non-exclusive target",
                )),
                _ => return Err(bad(TARGET_KEY, s, "expected `1` or `1-1`")),
            },
            "2" => {
                if rest.is_empty() {
                    return Ok(TargetOpt::Affinity(Affinity::Nearest));
                }
                count(5, "`2` or `2-z-y-x-version` with version v1 or v2")?;
                let mut offsets = [0i64; 3];
                for (o, field) in offsets.iter_mut().zip(rest) {
                    *o = int(TARGET_KEY, s, field, "offset")?;
                }
                let version = match rest[3] {
                    "v1" => AffinityVersion::V1,
                    "v2" => AffinityVersion::V2,
                    "pni" => return Err(bad(TARGET_KEY, s, "the `pni` affinity cannot be computed: PyTC v1's seg2aff_pni calls check_volume, which it does not define (NameError)")),
                    v => return Err(bad(TARGET_KEY, s, format!("unknown affinity version `{v}` (v1 or v2)"))),
                };
                if offsets[1] < 1 || offsets[2] < 1 {
                    return Err(bad(
                        TARGET_KEY,
                        s,
                        "the y and x offsets must be at least 1 (PyTC v1 fails on 0 or less)",
                    ));
                }
                TargetOpt::Affinity(Affinity::Long { offsets, version })
            }
            "3" => {
                count(4, "`3-threshold-ratio-dilation`")?;
                let z_ratio = int(TARGET_KEY, s, rest[1], "z ratio")?;
                if z_ratio == 0 {
                    return Err(bad(
                        TARGET_KEY,
                        s,
                        "the z ratio divides the threshold and must not be 0",
                    ));
                }
                TargetOpt::SmallObjects {
                    threshold: int(TARGET_KEY, s, rest[0], "threshold")?,
                    z_ratio,
                    unused: int(TARGET_KEY, s, rest[2], "dilation")?,
                }
            }
            "4" => {
                count(3, "`4-half-background` such as `4-1-1`")?;
                let half = int(TARGET_KEY, s, rest[0], "boundary half-size")?;
                TargetOpt::Boundary {
                    half: usize::try_from(half).map_err(|_| {
                        bad(TARGET_KEY, s, "the boundary half-size must not be negative")
                    })?,
                    background: flag(s, rest[1], "background flag")?,
                }
            }
            "5" => match rest.len() {
                0 => TargetOpt::InstanceDistance(Distance::default()),
                5 => TargetOpt::InstanceDistance(distance(s, rest)?),
                _ => return Err(bad(TARGET_KEY, s, format!("expected {DISTANCE_FORM}"))),
            },
            "6" => match rest {
                [] => TargetOpt::SemanticDistance {
                    mode: Mode::TwoD,
                    alpha_fore: 8.0,
                    alpha_back: 50.0,
                },
                [m, a, b] => {
                    let alpha = |field: &str, what: &str| -> Result<f64> {
                        let v = float(TARGET_KEY, s, field, what)?;
                        if v.is_finite() && v != 0.0 {
                            Ok(v)
                        } else {
                            Err(bad(
                                TARGET_KEY,
                                s,
                                format!("{what} must be a finite non-zero number"),
                            ))
                        }
                    };
                    TargetOpt::SemanticDistance {
                        mode: mode(s, m)?,
                        alpha_fore: alpha(a, "the foreground divisor")?,
                        alpha_back: alpha(b, "the background divisor")?,
                    }
                }
                _ => {
                    return Err(bad(
                        TARGET_KEY,
                        s,
                        "expected `6` or `6-mode-alpha_fore-alpha_back` such as `6-2d-8-50`",
                    ))
                }
            },
            "7" => match rest {
                [] => TargetOpt::Diffusion {
                    with_foreground: false,
                },
                ["0"] => TargetOpt::Diffusion {
                    with_foreground: true,
                },
                _ => {
                    return Err(bad(
                        TARGET_KEY,
                        s,
                        "expected `7` or `7-0` (with the foreground channel)",
                    ))
                }
            },
            "8" => skeleton(s, rest)?,
            "9" => match rest {
                [] => TargetOpt::Semantic { classes: None },
                [n] => {
                    let n = int(TARGET_KEY, s, n, "number of classes")?;
                    match u64::try_from(n) {
                        Ok(n) if n >= 1 => TargetOpt::Semantic { classes: Some(n) },
                        _ => {
                            return Err(bad(
                                TARGET_KEY,
                                s,
                                "the number of classes must be at least 1",
                            ))
                        }
                    }
                }
                _ => {
                    return Err(bad(
                        TARGET_KEY,
                        s,
                        "expected `9` or `9-classes` such as `9-12`",
                    ))
                }
            },
            _ => unreachable!("one ASCII digit"),
        })
    }
}

/// `8-dilation-…`: PyTC reads the dilation, then hands the rest to the `5` parser (which
/// ignores its first field).
fn skeleton(s: &str, rest: &[&str]) -> Result<TargetOpt> {
    let Some((dilation, tail)) = rest.split_first() else {
        return Err(bad(
            TARGET_KEY,
            s,
            "expected `8-dilation-5` or `8-dilation-5-mode-padding-quantize-zres-erosion`",
        ));
    };
    let dilation = int(TARGET_KEY, s, dilation, "dilation")?;
    let dilation = match usize::try_from(dilation) {
        Ok(d) if d >= 1 => d,
        _ => {
            return Err(bad(
                TARGET_KEY,
                s,
                "the dilation must be at least 1 (PyTC v1 makes no target for 0)",
            ))
        }
    };
    let distance = match tail {
        [one] if one.len() == 1 => Distance::default(),
        [first, fields @ ..] if fields.len() == 5 && !first.is_empty() => distance(s, fields)?,
        [m, ..] if tail.len() == 5 && (*m == "2d" || *m == "3d") => {
            return Err(bad(
                TARGET_KEY,
                s,
                format!("PyTC v1 reads the part after the dilation as a whole `5…` option, so this fails there; write `8-{dilation}-5-{}`", tail.join("-")),
            ))
        }
        _ => return Err(bad(TARGET_KEY, s, "expected `8-dilation-5` or `8-dilation-5-mode-padding-quantize-zres-erosion`")),
    };
    Ok(TargetOpt::Skeleton { dilation, distance })
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::TwoD => "2d",
            Mode::ThreeD => "3d",
        })
    }
}

impl fmt::Display for Distance {
    /// The `5…` form: `5` for the default, else all five fields.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Distance::default() {
            return f.write_str("5");
        }
        write!(
            f,
            "5-{}-{}-{}-{:?}-{}",
            self.mode,
            u8::from(self.padding),
            u8::from(self.quantize),
            self.z_resolution,
            self.erosion
        )
    }
}

impl fmt::Display for TargetOpt {
    /// The option string, in a form that parses back to the same option.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetOpt::Foreground { classes } => {
                f.write_str("0")?;
                classes.iter().try_for_each(|c| write!(f, "-{c}"))
            }
            TargetOpt::Polarity { exclusive } => f.write_str(if *exclusive { "1-1" } else { "1" }),
            TargetOpt::Affinity(Affinity::Nearest) => f.write_str("2"),
            TargetOpt::Affinity(Affinity::Long {
                offsets: [z, y, x],
                version,
            }) => {
                let v = match version {
                    AffinityVersion::V1 => "v1",
                    AffinityVersion::V2 => "v2",
                };
                write!(f, "2-{z}-{y}-{x}-{v}")
            }
            TargetOpt::SmallObjects {
                threshold,
                z_ratio,
                unused,
            } => write!(f, "3-{threshold}-{z_ratio}-{unused}"),
            TargetOpt::Boundary { half, background } => {
                write!(f, "4-{half}-{}", u8::from(*background))
            }
            TargetOpt::InstanceDistance(d) => write!(f, "{d}"),
            TargetOpt::SemanticDistance {
                mode,
                alpha_fore,
                alpha_back,
            } => {
                write!(f, "6-{mode}-{alpha_fore:?}-{alpha_back:?}")
            }
            TargetOpt::Diffusion { with_foreground } => {
                f.write_str(if *with_foreground { "7-0" } else { "7" })
            }
            TargetOpt::Skeleton { dilation, distance } => write!(f, "8-{dilation}-{distance}"),
            TargetOpt::Semantic { classes: None } => f.write_str("9"),
            TargetOpt::Semantic { classes: Some(n) } => write!(f, "9-{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytc_config_strings_parse() {
        for s in [
            "0",
            "1",
            "1-1",
            "2",
            "2-1-1-1-v1",
            "2-3-9-9-v1",
            "2-1-3-3-v2",
            "3-25-2-0",
            "4-1-1",
            "4-0-1",
            "4-2-1",
            "5",
            "5-3d-1-0-1.0-0",
            "5-2d-0-0-5.0-0",
            "6",
            "6-2d-4-50",
            "6-2d-16-50",
            "7",
            "7-0",
            "8-5-5",
            "8-5-5-3d-1-0-1.0-1",
            "9",
            "9-12",
            "0-1-2",
        ] {
            let opt: TargetOpt = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            let again: TargetOpt = opt.to_string().parse().unwrap();
            assert_eq!(again, opt, "{s} → {opt}");
        }
    }

    #[test]
    fn malformed_strings_name_the_key_and_string() {
        for s in [
            "",
            "11",
            "01",
            "x",
            "2-x",
            "2-1-1",
            "2-1-1-1-v3",
            "2-1-1-1-pni",
            "2-1-0-1-v1",
            "3",
            "3-1-0-1",
            "4",
            "4-1",
            "4--1-1",
            "4-1-2",
            "5-3d",
            "5-4d-0-0-1.0-0",
            "5-3d-0-0-0-0",
            "5-3d-0-0-1.0--1",
            "6-2d-0-50",
            "6-2d-8",
            "7-1",
            "8",
            "8-0-5",
            "8-5",
            "8-5-3d-1-0-1.0-1",
            "9-0",
            "9-1-2",
            "all",
            "1-0",
            "0-a",
        ] {
            let e = s.parse::<TargetOpt>().expect_err(s);
            let text = e.to_string();
            assert!(
                text.contains("MODEL.TARGET_OPT") && text.contains(&format!("`{s}`")),
                "{text}"
            );
        }
    }
}
