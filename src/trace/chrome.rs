//! Chrome trace-event JSON, which Perfetto (ui.perfetto.dev) and
//! `chrome://tracing` open.
//!
//! * one track per thread (`tid` = thread index + 1), named after the
//!   thread, callers first, then workers by pool and index;
//! * a scope is a complete (`X`) slice on the thread that opened it,
//!   enclosing the time its body ran and it waited;
//! * an `exec_blocking` child is one slice from its start to its finish; an
//!   `exec` child is one slice per poll; a child that never started is a
//!   zero-length slice where it finished. Every child's slices carry
//!   `args.task`, `args.scope`, `args.kind` and `args.outcome`;
//! * flow arrows (`s`/`f`) join each spawn to the child's start (category
//!   `fork`) and each finish to its scope's close (category `join`);
//! * steals and loop creation/teardown are instant (`i`) events.
//!
//! Timestamps are microseconds with nanosecond decimals.
//!
//! Prior art: the Chrome Trace Event Format
//! (<https://docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU>), opened by
//! Perfetto (<https://ui.perfetto.dev>).

use super::model::Model;
use super::recording::Trace;
use crate::hooks::*;
use std::fmt::Write;

impl Trace {
    /// The trace as Chrome trace-event JSON (see the module docs of
    /// `trace::chrome` for the layout). Save it as a `.json` file and open
    /// it in <https://ui.perfetto.dev>.
    ///
    /// # Examples
    ///
    /// ```
    /// let ((), t) = knotwork::trace::record(|| knotwork::scope(|s| drop(s.exec_blocking(|| ()))));
    /// let json = t.chrome_json();
    /// assert!(json.contains("\"traceEvents\""));
    /// assert!(json.contains("\"name\":\"exec_blocking #1\""));
    /// ```
    pub fn chrome_json(&self) -> String {
        let model = Model::new(self);
        let mut w = Writer { out: String::new(), first: true };
        w.out.push_str("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
        w.event(&format!(
            r#""ph":"M","name":"process_name","pid":1,"tid":0,"args":{{"name":{}}}"#,
            json_str("knotwork")
        ));
        for (ix, t) in self.threads.iter().enumerate() {
            let name = match t.worker {
                Some((pool, index)) => format!("{} (pool {pool}, worker {index})", t.name),
                None => format!("{} (caller)", t.name),
            };
            let sort =
                t.worker.map_or(ix, |(pool, index)| 1_000 * pool as usize + index + self.threads.len());
            w.event(&format!(
                r#""ph":"M","name":"thread_name","pid":1,"tid":{},"args":{{"name":{}}}"#,
                ix + 1,
                json_str(&name)
            ));
            w.event(&format!(
                r#""ph":"M","name":"thread_sort_index","pid":1,"tid":{},"args":{{"sort_index":{sort}}}"#,
                ix + 1
            ));
        }
        let end = model.end_ns();
        for (&id, s) in &model.scopes {
            let Some(open) = s.open else { continue };
            let close_at = s.close.map_or(end, |c| model.at(c));
            let form = if s.form == Some(ScopeForm::Async) { "async" } else { "sync" };
            let args = format!(
                r#""scope":{},"location":{},"closed":{}"#,
                id.0,
                json_str(&s.location.map(|l| l.to_string()).unwrap_or_default()),
                s.close.is_some()
            );
            w.slice(&format!("{id} {form}"), "scope", model.thread_of(open), model.at(open), close_at, &args);
        }
        for (&id, t) in &model.tasks {
            let Some(spawn) = t.spawn else { continue };
            let kind = t.kind.map_or("child", ChildKind::name);
            let name = format!("{kind} #{}", id.0);
            let outcome = match t.outcome {
                Some(Outcome::Cancelled) if t.start.is_none() => "cancelled before it started",
                Some(o) => o.name(),
                None => "never finished",
            };
            let args = format!(
                r#""task":{},"scope":{},"kind":{},"outcome":{},"location":{}"#,
                id.0,
                t.scope.map_or(0, |s| s.0),
                json_str(kind),
                json_str(outcome),
                json_str(&t.location.map(|l| l.to_string()).unwrap_or_default())
            );
            let finish_at = t.finish.map_or(end, |f| model.at(f));
            match (t.start, t.kind.is_some_and(ChildKind::is_async)) {
                (None, _) => {
                    let (thread, at) =
                        t.finish.map_or((model.thread_of(spawn), end), |f| (model.thread_of(f), model.at(f)));
                    w.slice(&name, kind, thread, at, at, &args);
                }
                (Some(start), false) => {
                    w.slice(&name, kind, model.thread_of(start), model.at(start), finish_at, &args)
                }
                (Some(start), true) if t.polls.is_empty() => {
                    w.slice(&name, kind, model.thread_of(start), model.at(start), model.at(start), &args)
                }
                (Some(_), true) => {
                    for p in &t.polls {
                        let to = p.end.map_or(finish_at, |e| model.at(e));
                        w.slice(&name, kind, p.thread, model.at(p.begin), to, &args);
                    }
                }
            }
            // Fork: spawn → start (or → the finish of a child that never started).
            let (to_thread, to_at) = match (t.start, t.finish) {
                (Some(s), _) => (model.thread_of(s), model.at(s)),
                (None, Some(f)) => (model.thread_of(f), model.at(f)),
                (None, None) => continue,
            };
            w.flow(
                "fork",
                2 * u64::from(id.0),
                (model.thread_of(spawn), model.at(spawn)),
                (to_thread, to_at),
            );
            // Join: finish → the scope's close.
            let close = t.scope.and_then(|s| model.scopes.get(&s)).and_then(|s| s.close);
            if let (Some(f), Some(c)) = (t.finish, close) {
                w.flow(
                    "join",
                    2 * u64::from(id.0) + 1,
                    (model.thread_of(f), model.at(f)),
                    (model.thread_of(c), model.at(c)),
                );
            }
        }
        for e in &self.events {
            let (name, args) = match &e.kind {
                EventKind::Stolen { task, from } => {
                    let from = match from {
                        Queue::Injector => "the injector".to_owned(),
                        Queue::Deque(t) => format!("the deque of {}", self.thread_name(*t)),
                    };
                    (format!("steal {task}"), format!(r#""task":{},"from":{}"#, task.0, json_str(&from)))
                }
                EventKind::LoopCreated { on_loop, .. } => {
                    (format!("{on_loop} created"), format!(r#""loop":{}"#, on_loop.0))
                }
                EventKind::LoopTornDown { on_loop } => {
                    (format!("{on_loop} torn down"), format!(r#""loop":{}"#, on_loop.0))
                }
                EventKind::ShieldBegan { task, location } => (
                    "shield began".to_owned(),
                    format!(r#""task":{},"at":{}"#, task.map_or(0, |t| t.0), json_str(&location.to_string())),
                ),
                EventKind::ShieldEnded { task, deferred, deadline_passed } => (
                    "shield ended".to_owned(),
                    format!(
                        r#""task":{},"cancellation_deferred":{deferred},"deadline_passed":{deadline_passed}"#,
                        task.map_or(0, |t| t.0)
                    ),
                ),
                _ => continue,
            };
            w.event(&format!(
                r#""ph":"i","s":"t","name":{},"pid":1,"tid":{},"ts":{},"args":{{{args}}}"#,
                json_str(&name),
                e.thread.0 + 1,
                micros(e.at_ns)
            ));
        }
        w.out.push_str("]}\n");
        w.out
    }
}

struct Writer {
    out: String,
    first: bool,
}

impl Writer {
    /// Appends one event object whose members are `body`.
    fn event(&mut self, body: &str) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        let _ = write!(self.out, "\n{{{body}}}");
    }

    fn slice(&mut self, name: &str, cat: &str, thread: ThreadIx, from: u64, to: u64, args: &str) {
        self.event(&format!(
            r#""ph":"X","name":{},"cat":{},"pid":1,"tid":{},"ts":{},"dur":{},"args":{{{args}}}"#,
            json_str(name),
            json_str(cat),
            thread.0 + 1,
            micros(from),
            micros(to.saturating_sub(from))
        ));
    }

    /// A flow arrow from `from` to `to`, each a (thread, time); the end
    /// binds to the slice enclosing it (`bp: e`).
    fn flow(&mut self, cat: &str, id: u64, from: (ThreadIx, u64), to: (ThreadIx, u64)) {
        self.event(&format!(
            r#""ph":"s","name":{},"cat":{},"id":{id},"pid":1,"tid":{},"ts":{}"#,
            json_str(cat),
            json_str(cat),
            from.0.0 + 1,
            micros(from.1)
        ));
        self.event(&format!(
            r#""ph":"f","bp":"e","name":{},"cat":{},"id":{id},"pid":1,"tid":{},"ts":{}"#,
            json_str(cat),
            json_str(cat),
            to.0.0 + 1,
            micros(to.1)
        ));
    }
}

/// Nanoseconds as microseconds with three decimals.
fn micros(ns: u64) -> String {
    format!("{}.{:03}", ns / 1_000, ns % 1_000)
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
