//! The trigger bus: named events that plugins answer, as Dokku's `plugn
//! trigger` does.
//!
//! A trigger visits its handlers in plugin-name order; their stdout is
//! concatenated and returned to the caller; the first error stops the rest
//! and is returned. Core plugins register Rust functions here; the enabled
//! external plugins (Dokku's on-disk format, [`crate::external`]) join the
//! same order with their executables: `00_dokku-standard`, `apps`, a
//! community `hello`, `nginx-vhosts`...

use std::path::PathBuf;

use crate::context::Context;
use crate::error::Result;
use crate::external::{self, ExternalPlugin};
use crate::plugins::Plugin;

/// Who answers a trigger: a core handler or an external executable.
enum Answer<'a> {
    Core(Handler),
    External(&'a ExternalPlugin, PathBuf),
}

/// Who gave an answer: berth's own code, or an external plugin's
/// executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Core,
    External,
}

/// An in-process trigger handler: gets the trigger's arguments, returns
/// what a plugin executable would print on stdout.
pub type Handler = fn(&Context, &[String]) -> Result<String>;

struct Registration {
    trigger: &'static str,
    plugin: &'static str,
    handler: Handler,
}

pub struct TriggerBus {
    handlers: Vec<Registration>,
}

impl TriggerBus {
    /// Collects the handlers of `plugins`, ordered by plugin name.
    pub fn new(plugins: &[&'static Plugin]) -> TriggerBus {
        let mut handlers: Vec<Registration> = plugins
            .iter()
            .flat_map(|plugin| {
                plugin
                    .triggers
                    .iter()
                    .map(|(trigger, handler)| Registration {
                        trigger,
                        plugin: plugin.name,
                        handler: *handler,
                    })
            })
            .collect();
        handlers.sort_by_key(|r| r.plugin);
        TriggerBus { handlers }
    }

    /// Fires `trigger` with `args`; returns the handlers' concatenated output.
    pub fn fire(&self, ctx: &Context, trigger: &str, args: &[&str]) -> Result<String> {
        Ok(self
            .fire_each(ctx, trigger, args)?
            .into_iter()
            .map(|(_, output)| output)
            .collect())
    }

    /// Fires `trigger` with `args`; returns each handler's output with who
    /// gave it, in the order they ran (for answers whose trust depends on
    /// the answerer, such as mounts).
    pub fn fire_each(
        &self,
        ctx: &Context,
        trigger: &str,
        args: &[&str],
    ) -> Result<Vec<(Origin, String)>> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if ctx.flags.trace {
            eprintln!("+ trigger {trigger} {}", args.join(" "));
        }
        let mut answers: Vec<(&str, Answer)> = self
            .handlers
            .iter()
            .filter(|r| r.trigger == trigger)
            .map(|r| (r.plugin, Answer::Core(r.handler)))
            .collect();
        for plugin in ctx.external_plugins() {
            if let Some(executable) = plugin.executable(trigger) {
                answers.push((&plugin.name, Answer::External(plugin, executable)));
            }
        }
        answers.sort_by_key(|(name, _)| *name);
        let mut outputs = Vec::new();
        for (_, answer) in answers {
            outputs.push(match answer {
                Answer::Core(handler) => (Origin::Core, handler(ctx, &args)?),
                Answer::External(plugin, executable) => (
                    Origin::External,
                    external::run_trigger(ctx, plugin, &executable, trigger, &args)?,
                ),
            });
        }
        Ok(outputs)
    }

    /// The plugins that answer `trigger`, in the order they run.
    pub fn answering(&self, trigger: &str) -> Vec<&'static str> {
        self.handlers
            .iter()
            .filter(|r| r.trigger == trigger)
            .map(|r| r.plugin)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn echo(_: &Context, args: &[String]) -> Result<String> {
        Ok(format!("a:{}\n", args.join(",")))
    }
    fn second(_: &Context, _: &[String]) -> Result<String> {
        Ok("b\n".into())
    }
    fn refuse(_: &Context, _: &[String]) -> Result<String> {
        Err(Error::fail("refused"))
    }

    static A: Plugin = Plugin {
        name: "a",
        description: "",
        default_command: None,
        commands: &[],
        triggers: &[("t", echo), ("stop", refuse)],
    };
    static B: Plugin = Plugin {
        name: "b",
        description: "",
        default_command: None,
        commands: &[],
        triggers: &[("t", second), ("stop", second)],
    };

    #[test]
    fn visits_plugins_in_name_order_and_concatenates() {
        let bus = TriggerBus::new(&[&B, &A]);
        let ctx = Context::for_tests();
        assert_eq!(bus.fire(&ctx, "t", &["x", "y"]).unwrap(), "a:x,y\nb\n");
        assert_eq!(bus.answering("t"), vec!["a", "b"]);
        assert_eq!(bus.fire(&ctx, "nobody", &[]).unwrap(), "");
    }

    #[test]
    fn external_executables_take_their_place_in_name_order() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let store = crate::store::Store::new(root.path().join("home"), root.path().join("lib"));
        let paths = external::Paths::new(&store);
        let dir = paths.available.join("ab");
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("docker-args-deploy");
        std::fs::write(&script, "#!/bin/sh\necho \"ab:$1,$2\"\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        external::enable(&paths, "ab").unwrap();
        let ctx = Context::new(store, crate::context::GlobalFlags::default());
        // `docker-args-deploy` is an answering trigger: stdout is captured.
        static C: Plugin = Plugin {
            name: "c",
            description: "",
            default_command: None,
            commands: &[],
            triggers: &[("docker-args-deploy", second)],
        };
        static A2: Plugin = Plugin {
            name: "a",
            description: "",
            default_command: None,
            commands: &[],
            triggers: &[("docker-args-deploy", echo)],
        };
        let bus = TriggerBus::new(&[&C, &A2]);
        assert_eq!(
            bus.fire(&ctx, "docker-args-deploy", &["x", "y"]).unwrap(),
            "a:x,y\nab:x,y\nb\n"
        );
    }

    #[test]
    fn first_failure_stops_the_rest() {
        let bus = TriggerBus::new(&[&A, &B]);
        let err = bus.fire(&Context::for_tests(), "stop", &[]).unwrap_err();
        assert_eq!(err.to_string(), "refused");
    }
}
