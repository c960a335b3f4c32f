//! The two-thread pipeline behind [`crate::render_chunks`]: a planner thread plans chunks in
//! order, both threads render them (the planner's thread the older of two queued ones, the
//! caller's thread whatever is queued when it has nothing to hand on), and the caller's sink
//! gets them in plan order.
//!
//! Why both render: the caller's thread verifies the PKI while the first chunks render, and
//! after that only compares chunks with the tree (a fraction of rendering them); left idle
//! it would wait on the renderer for the rest of the run. A chunk does not depend on the
//! thread that rendered it (the template environment is shared and rendering is pure), so
//! the output does not either.
//!
//! Memory stays bounded: the planner waits while `capacity` chunks are queued, being
//! rendered or rendered and not yet sunk, so at most `capacity + 1` are alive (the one being
//! sunk), whatever the threads' speeds.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

/// What the two threads share.
pub(crate) struct Pipeline<P, C, E> {
    state: Mutex<State<P, C, E>>,
    changed: Condvar,
    capacity: usize,
    /// What [`Pipeline::drain`] returns when the planner's thread ended in a panic (which
    /// its caller then re-raises from the join, so this is never what is told).
    lost: fn() -> E,
}

struct State<P, C, E> {
    /// Planned, not yet taken by a renderer: (index, plan).
    queue: VecDeque<(usize, P)>,
    /// Rendered (or failed), not yet sunk.
    done: BTreeMap<usize, Result<C, E>>,
    /// Taken by a renderer, not yet in `done`.
    rendering: usize,
    /// Chunks planned so far (the next one's index).
    planned: usize,
    /// The planner's own outcome, once it has planned everything (or failed).
    finished: Option<Result<(), E>>,
    /// The run ends: the sink's side stopped (its error, a PKI failure, a panic; only after
    /// [`Pipeline::drain`] returned), or the planner's thread panicked ([`PlannerGuard`]).
    stopped: bool,
}

/// The planner is to stop: the sink's side ended the run.
pub(crate) struct Stopped;

impl<P, C, E> Pipeline<P, C, E> {
    pub(crate) fn new(capacity: usize, lost: fn() -> E) -> Self {
        Pipeline {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                done: BTreeMap::new(),
                rendering: 0,
                planned: 0,
                finished: None,
                stopped: false,
            }),
            changed: Condvar::new(),
            capacity: capacity.max(1),
            lost,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<P, C, E>> {
        // Nothing panics while holding the lock (rendering happens outside it).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, g: MutexGuard<'a, State<P, C, E>>) -> MutexGuard<'a, State<P, C, E>> {
        self.changed.wait(g).unwrap_or_else(|e| e.into_inner())
    }

    /// Renders `plan` (index `i`) outside the lock and records the result.
    fn render_one<'a>(
        &'a self,
        mut g: MutexGuard<'a, State<P, C, E>>,
        (i, plan): (usize, P),
        render: &impl Fn(P) -> Result<C, E>,
    ) -> MutexGuard<'a, State<P, C, E>> {
        g.rendering += 1;
        drop(g);
        let r = render(plan);
        let mut g = self.lock();
        g.rendering -= 1;
        g.done.insert(i, r);
        self.changed.notify_all();
        g
    }

    /// The planner's step for each plan: queue it (waiting for room), then render the
    /// older of two queued plans, leaving one for the sink's thread to take when it is free.
    /// `Err` when the sink's side stopped, or when a chunk this thread rendered failed (its
    /// error is the sink's to report, in plan order).
    pub(crate) fn push(&self, plan: P, render: &impl Fn(P) -> Result<C, E>) -> Result<(), Stopped> {
        let mut g = self.lock();
        while !g.stopped && g.queue.len() + g.rendering + g.done.len() >= self.capacity {
            g = self.wait(g);
        }
        if g.stopped {
            return Err(Stopped);
        }
        let i = g.planned;
        g.planned += 1;
        g.queue.push_back((i, plan));
        self.changed.notify_all();
        while g.queue.len() > 1 && !g.stopped {
            let item = g.queue.pop_front().expect("a queued plan");
            let rendered = item.0;
            g = self.render_one(g, item, render);
            if g.done.get(&rendered).is_some_and(Result::is_err) {
                return Err(Stopped);
            }
        }
        if g.stopped { Err(Stopped) } else { Ok(()) }
    }

    /// The planner is done (`result`: its own outcome): it renders what is still queued, as
    /// the sink's thread does, then says so.
    pub(crate) fn finish(&self, result: Result<(), E>, render: &impl Fn(P) -> Result<C, E>) {
        let mut g = self.lock();
        while !g.stopped
            && let Some(item) = g.queue.pop_front()
        {
            g = self.render_one(g, item, render);
        }
        g.finished = Some(result);
        self.changed.notify_all();
    }

    /// Stops the planner (and any render it would start): the run ends.
    pub(crate) fn stop(&self) {
        let mut g = self.lock();
        g.stopped = true;
        g.queue.clear();
        self.changed.notify_all();
    }

    /// The sink's loop, on the caller's thread: hands each chunk to `sink` in plan order,
    /// rendering queued plans itself whenever the next chunk is not ready. Returns the first
    /// error in plan order (a chunk's render or `sink`), else the planner's outcome.
    pub(crate) fn drain(
        &self,
        render: &impl Fn(P) -> Result<C, E>,
        mut sink: impl FnMut(C) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut next = 0;
        let mut g = self.lock();
        loop {
            // Stopped while draining: only the planner's guard does that (the sink's side
            // stops after `drain` returns), so nothing more will come.
            if g.stopped {
                return Err((self.lost)());
            }
            if let Some(r) = g.done.remove(&next) {
                // Room for the planner again.
                self.changed.notify_all();
                drop(g);
                next += 1;
                r.and_then(&mut sink)?;
                g = self.lock();
            } else if let Some(item) = g.queue.pop_front() {
                g = self.render_one(g, item, render);
            } else if g.rendering == 0
                && let Some(result) = g.finished.take()
            {
                // Everything planned was rendered and sunk (`next == planned`).
                return result;
            } else {
                g = self.wait(g);
            }
        }
    }
}

/// Held by the planner's thread for its whole run: if that thread unwinds (a panic while
/// planning or rendering), the sink's side stops waiting for chunks that will not come (its
/// caller then re-raises the panic from the join, as a panic on one thread always was).
pub(crate) struct PlannerGuard<'a, P, C, E>(pub(crate) &'a Pipeline<P, C, E>);

impl<P, C, E> Drop for PlannerGuard<'_, P, C, E> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop();
        }
    }
}

/// Stops the pipeline when dropped: however the sink's side ends (an error, an early return,
/// a panic), the planner never waits for room that will not come.
pub(crate) struct StopOnDrop<'a, P, C, E>(pub(crate) &'a Pipeline<P, C, E>);

impl<P, C, E> Drop for StopOnDrop<'_, P, C, E> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Runs `n` plans through the pipeline as `render_chunks` does: plan `i` renders to `i`
    /// (after a little work, longer on some), `fail_render` / `fail_sink` / `fail_plan` at
    /// that index. Returns what was sunk, the outcome, and the most chunks alive at once.
    fn run(
        n: usize,
        fail_render: Option<usize>,
        fail_sink: Option<usize>,
        fail_plan: Option<usize>,
    ) -> (Vec<usize>, Result<(), String>, usize) {
        let pipe = Pipeline::new(5, || "lost".to_owned());
        let alive = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let render = |i: usize| {
            let now = alive.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            let spin = if i.is_multiple_of(3) { 20_000 } else { 2_000 };
            std::hint::black_box((0..spin).sum::<usize>());
            if Some(i) == fail_render {
                alive.fetch_sub(1, Ordering::SeqCst);
                return Err(format!("render {i}"));
            }
            Ok(i)
        };
        let mut sunk = Vec::new();
        let told = std::thread::scope(|s| {
            let stop = StopOnDrop(&pipe);
            let producer = s.spawn(|| {
                let _guard = PlannerGuard(&pipe);
                let planned = (0..n).try_for_each(|i| {
                    if Some(i) == fail_plan {
                        return Err(format!("plan {i}"));
                    }
                    pipe.push(i, &render)
                        .map_err(|Stopped| "stopped".to_owned())
                });
                pipe.finish(planned, &render);
            });
            let told = pipe.drain(&render, |c| {
                alive.fetch_sub(1, Ordering::SeqCst);
                if Some(c) == fail_sink {
                    return Err(format!("sink {c}"));
                }
                sunk.push(c);
                Ok(())
            });
            drop(stop);
            producer.join().unwrap();
            told
        });
        (sunk, told, most.load(Ordering::SeqCst))
    }

    #[test]
    fn chunks_reach_the_sink_in_plan_order_with_bounded_memory() {
        for _ in 0..50 {
            let (sunk, told, most) = run(40, None, None, None);
            assert_eq!(sunk, (0..40).collect::<Vec<_>>());
            assert_eq!(told, Ok(()));
            assert!(most <= 6, "{most} chunks alive at once");
        }
        assert_eq!(run(0, None, None, None).0, Vec::<usize>::new());
    }

    #[test]
    fn the_first_failure_in_plan_order_is_told_after_the_chunks_before_it() {
        for _ in 0..50 {
            let (sunk, told, _) = run(40, Some(17), None, None);
            assert_eq!(sunk, (0..17).collect::<Vec<_>>());
            assert_eq!(told, Err("render 17".to_owned()));

            let (sunk, told, _) = run(40, None, Some(9), None);
            assert_eq!(sunk, (0..9).collect::<Vec<_>>());
            assert_eq!(told, Err("sink 9".to_owned()));

            let (sunk, told, _) = run(40, None, None, Some(23));
            assert_eq!(sunk, (0..23).collect::<Vec<_>>());
            assert_eq!(told, Err("plan 23".to_owned()));

            // A render failing after a sink failure: the sink's, earlier in plan order.
            let (sunk, told, _) = run(40, Some(30), Some(4), None);
            assert_eq!(sunk, (0..4).collect::<Vec<_>>());
            assert_eq!(told, Err("sink 4".to_owned()));
        }
    }

    /// A panic on the planner's thread (while rendering or planning) ends the sink's wait;
    /// the join re-raises it.
    #[test]
    fn a_panic_on_the_planner_thread_is_raised_not_waited_for() {
        for panic_at_plan in [false, true] {
            let pipe: Pipeline<usize, usize, String> = Pipeline::new(5, || "lost".to_owned());
            let sink_thread = std::thread::current().id();
            // Renders from the fourth on panic on the planner's thread (which renders some:
            // the sink is slow).
            let render = |i: usize| {
                let planner = std::thread::current().id() != sink_thread;
                assert!(panic_at_plan || i < 3 || !planner, "render {i} panics");
                Ok(i)
            };
            let mut sunk = Vec::new();
            let (told, joined) = std::thread::scope(|s| {
                let stop = StopOnDrop(&pipe);
                let producer = s.spawn(|| {
                    let _guard = PlannerGuard(&pipe);
                    let planned = (0..40).try_for_each(|i| {
                        assert!(!panic_at_plan || i != 7, "plan {i} panics");
                        pipe.push(i, &render)
                            .map_err(|Stopped| "stopped".to_owned())
                    });
                    pipe.finish(planned, &render);
                });
                // The sink is slow, so the planner renders (and panics) on its own thread.
                let told = pipe.drain(&render, |c| {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    sunk.push(c);
                    Ok(())
                });
                drop(stop);
                (told, producer.join().is_err())
            });
            assert!(joined, "the planner's panic reaches the join");
            assert_eq!(told, Err("lost".to_owned()));
            assert!(sunk.iter().copied().eq(0..sunk.len()), "{sunk:?}");
        }
    }
}
