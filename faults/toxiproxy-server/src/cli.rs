//! Command line, as toxiproxy-server's: `-host 0.0.0.0 -port 8474 -config FILE [-seed N]`.
//! Both `-flag value`, `--flag value` and `-flag=value` are accepted, like Go's flag package.

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub host: String,
    pub port: u16,
    pub config: Option<String>,
    pub seed: Option<u64>,
    pub version: bool,
    pub help: bool,
}

pub const USAGE: &str = "usage: toxiproxy-server [-host HOST] [-port PORT] [-config FILE] [-seed N] [-version]
  -host     address the REST API listens on (default localhost)
  -port     port the REST API listens on (default 8474)
  -config   JSON file with an array of proxies to create at start (same shape as POST /populate)
  -seed     seed for toxic randomness (jitter, toxicity, slicer), for reproducible runs
  -version  print the version and exit";

/// Parses `argv` (without the program name). Errors name the bad flag and the fix.
pub fn parse(argv: &[String]) -> Result<Args, String> {
    let mut args = Args {
        host: "localhost".to_owned(),
        port: 8474,
        config: None,
        seed: None,
        version: false,
        help: false,
    };
    let mut i = 0;
    while i < argv.len() {
        let raw = argv[i].trim_start_matches('-');
        if raw.len() == argv[i].len() {
            return Err(format!("unexpected argument {:?}; flags start with '-'\n{USAGE}", argv[i]));
        }
        let (flag, inline) = match raw.split_once('=') {
            Some((f, v)) => (f, Some(v.to_owned())),
            None => (raw, None),
        };
        if matches!(flag, "version" | "help" | "h") {
            args.version |= flag == "version";
            args.help |= flag != "version";
            i += 1;
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                argv.get(i).cloned().ok_or_else(|| format!("flag -{flag} needs a value\n{USAGE}"))?
            }
        };
        match flag {
            "host" => args.host = value,
            "port" => {
                args.port = value
                    .parse()
                    .map_err(|_| format!("-port {value:?} is not a port number (1-65535), e.g. -port 8474"))?
            }
            "config" => args.config = Some(value),
            "seed" => {
                args.seed = Some(value.parse().map_err(|_| {
                    format!("-seed {value:?} is not a non-negative integer, e.g. -seed 42")
                })?)
            }
            other => return Err(format!("unknown flag -{other}\n{USAGE}")),
        }
        i += 1;
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_toxiproxy_style_flags() {
        let a = parse(&argv("-host 0.0.0.0 -port 8475 --config=x.json -seed 7")).unwrap();
        assert_eq!(a.host, "0.0.0.0");
        assert_eq!(a.port, 8475);
        assert_eq!(a.config.as_deref(), Some("x.json"));
        assert_eq!(a.seed, Some(7));
    }

    #[test]
    fn rejects_bad_port_and_unknown_flags() {
        assert!(parse(&argv("-port abc")).unwrap_err().contains("-port"));
        assert!(parse(&argv("-bogus 1")).unwrap_err().contains("unknown flag -bogus"));
        assert!(parse(&argv("-port")).unwrap_err().contains("needs a value"));
    }
}
