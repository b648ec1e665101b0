//! Resources as handles, for a custom world's tools (issue #15): a call that returns a
//! resource (a constructor, `start-stream`) answers an opaque handle, `"h-<hex>"`, and the
//! instance that owns the resource stays leased to its handles: it leaves the pool, keeps
//! its slot, and serves every call that passes one of them, so a session's state (a
//! streaming transcription: start, feed, end) lives where it was made.
//!
//! A handle belongs to the tenant and session of the call that made it: another tenant or
//! session passing it is told it does not exist. It expires after [`HANDLE_TTL`] without
//! use (`LoadOptions::handle_ttl`); it is dropped explicitly ([`Plugin::drop_handle`]), with its session
//! ([`Plugin::end_session`]), when passed as an `own` parameter (the guest then owns the
//! resource), or when its instance fails (a trap or a limit discards the instance and
//! every handle on it). Once an instance's last handle is gone the instance is discarded
//! and its slot freed. Bounds: at most [`MAX_HANDLES`] live handles per plugin and
//! [`MAX_SESSION_HANDLES`] per session, beyond which a call making one is refused.
//!
//! Handles are only at the top level of parameters and results; a type holding one deeper
//! has no tool.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::component::{ResourceAny, Type, Val};

use super::Plugin;
use super::custom::{Function, is_handle};
use super::instance::LiveInstance;
use super::lease::Purpose;
use super::pool::Pool;
use crate::dynamic::json;
use crate::{CallContext, CallError};

/// How long a handle lives without being used, unless [`crate::LoadOptions::handle_ttl`]
/// says otherwise.
pub const HANDLE_TTL: Duration = Duration::from_secs(600);
/// Most live handles one plugin holds (all tenants and sessions).
pub const MAX_HANDLES: usize = 1024;
/// Most live handles one (tenant, session) holds in one plugin.
pub const MAX_SESSION_HANDLES: usize = 64;

/// An instance leased to handles, and how many of them are live.
struct Held {
    instance: tokio::sync::Mutex<Option<Box<LiveInstance>>>,
    live: AtomicUsize,
    /// Set once the instance is discarded and its slot freed (which happens once).
    ended: std::sync::atomic::AtomicBool,
    /// Set while a call runs on it: still set when the next caller gets the lock, the call
    /// was abandoned mid-way (cancelled), and the store may be half-way through something.
    busy: std::sync::atomic::AtomicBool,
}

struct Entry {
    held: Arc<Held>,
    resource: ResourceAny,
    /// Its resource type as the component's function types name it, checked against the
    /// parameter it is passed as.
    ty: wasmtime::component::ResourceType,
    tenant: String,
    session: String,
    expires: Instant,
}

/// A plugin's live handles.
#[derive(Default)]
pub(crate) struct Handles {
    entries: Mutex<HashMap<String, Entry>>,
}

impl Handles {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A new handle's text: 128 random bits from the OS, so none can be guessed.
fn new_id(plugin: &str) -> Result<String, CallError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| CallError::Busy {
        plugin: plugin.to_string(),
        reason: format!("no randomness for a handle: {e}"),
    })?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("h-{hex}"))
}

impl Plugin {
    /// Runs `function`, which takes or returns a resource: on the instance its handle
    /// arguments are bound to, else on a pooled one (kept for the handles it returns).
    pub(super) async fn run_with_handles(
        &self,
        function: &Function,
        arguments: &str,
        context: &CallContext,
    ) -> Result<String, CallError> {
        if self.is_shut_down() {
            return Err(CallError::ShutDown {
                plugin: self.name().to_string(),
            });
        }
        if let Err(reason) = self.inner.condition.admit() {
            return Err(CallError::Failing {
                plugin: self.name().to_string(),
                reason,
            });
        }
        let arguments = super::custom::parse(self.name(), &function.tool, arguments)?;
        let mut bound = self.bound_instance(function, &arguments, context)?;
        if function.export.results.iter().any(is_handle) {
            self.check_room(&function.tool, context)?;
            // A session's resources all live in one instance: its first one's.
            bound = bound.or_else(|| self.session_instance(context));
        }
        match bound {
            Some(held) => self.run_on_held(function, &arguments, context, held).await,
            None => self.run_on_pooled(function, &arguments, context).await,
        }
    }

    /// The instance the call's handle arguments are bound to (`None` when it passes none).
    fn bound_instance(
        &self,
        function: &Function,
        arguments: &Value,
        context: &CallContext,
    ) -> Result<Option<Arc<Held>>, CallError> {
        self.expire_handles();
        let entries = self.inner.handles.lock();
        let mut bound: Option<Arc<Held>> = None;
        for (name, ty) in &function.export.params {
            if !is_handle(ty) {
                continue;
            }
            let entry = self.entry(&entries, &function.tool, name, arguments, context)?;
            self.check_type(&function.tool, name, ty, entry)?;
            match &bound {
                Some(held) if !Arc::ptr_eq(held, &entry.held) => {
                    return Err(self.bad(
                        &function.tool,
                        format!(
                            "/{name}: a handle of another instance than the call's other handles"
                        ),
                    ));
                }
                _ => bound = Some(entry.held.clone()),
            }
        }
        Ok(bound)
    }

    /// The instance the caller's session already holds handles on, if any.
    fn session_instance(&self, context: &CallContext) -> Option<Arc<Held>> {
        let entries = self.inner.handles.lock();
        entries
            .values()
            .find(|e| e.tenant == context.tenant && e.session == context.session_id)
            .map(|e| e.held.clone())
    }

    /// The live entry the argument `name` names, for the caller's tenant and session.
    fn entry<'a>(
        &self,
        entries: &'a HashMap<String, Entry>,
        tool: &str,
        name: &str,
        arguments: &Value,
        context: &CallContext,
    ) -> Result<&'a Entry, CallError> {
        let id = arguments
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default();
        let entry = entries
            .get(id)
            .filter(|e| e.tenant == context.tenant && e.session == context.session_id);
        entry.ok_or_else(|| {
            self.bad(
                tool,
                format!(
                    "/{name}: no live handle `{}` in this session (handles expire after {} s \
                     unused, and end with their session or a failed call)",
                    crate::text::escape(&id.chars().take(40).collect::<String>()),
                    self.inner.handle_ttl.as_secs_f64()
                ),
            )
        })
    }

    /// Refuses a handle of another resource type than the parameter's (wasmtime would trap,
    /// and the trap would end the instance and every handle on it).
    fn check_type(
        &self,
        tool: &str,
        name: &str,
        ty: &Type,
        entry: &Entry,
    ) -> Result<(), CallError> {
        let expected = match ty {
            Type::Own(t) | Type::Borrow(t) => *t,
            _ => return Ok(()),
        };
        match entry.ty == expected {
            true => Ok(()),
            false => Err(self.bad(tool, format!("/{name}: a handle of another resource type"))),
        }
    }

    async fn run_on_held(
        &self,
        function: &Function,
        arguments: &Value,
        context: &CallContext,
        held: Arc<Held>,
    ) -> Result<String, CallError> {
        let mut guard = held.instance.lock().await;
        let gone = || self.bad(&function.tool, "its handle's instance has ended".into());
        if held.ended.load(Ordering::Acquire) {
            return Err(gone());
        }
        if held.busy.load(Ordering::Acquire) {
            // The last call on it was abandoned mid-way: its store is not to be trusted.
            guard.take();
            drop(guard);
            self.end_held(&held);
            return Err(gone());
        }
        let params = self.params(function, arguments, context)?;
        // `own` handles go to the guest with the call: forgotten before it, so no other
        // call can pass them meanwhile.
        let consumed = self.consume_owned(function, arguments);
        let Some(instance) = guard.as_mut() else {
            drop(guard);
            self.end_held(&held);
            return Err(gone());
        };
        held.busy.store(true, Ordering::Release);
        let limits = &self.inner.limits;
        let result = instance
            .call_export(limits, &function.export, &params, context)
            .await;
        held.busy.store(false, Ordering::Release);
        self.meter(instance);
        self.inner.condition.record(&result);
        let discard = result.as_ref().is_err_and(CallError::discards_instance);
        if discard || held.ended.load(Ordering::Acquire) {
            // Failed, or ended (expired, its session over) while the call ran.
            guard.take();
            drop(guard);
            self.end_held(&held);
            return result.and_then(|_| Err(gone()));
        }
        drop(guard);
        let answer = match result {
            Ok(results) => {
                self.touch(function, arguments);
                self.answer(function, &results, context, &held)
            }
            Err(e) => Err(e),
        };
        let left = held.live.fetch_sub(consumed, Ordering::AcqRel) - consumed;
        if left == 0 {
            self.end_held(&held);
        }
        answer
    }

    async fn run_on_pooled(
        &self,
        function: &Function,
        arguments: &Value,
        context: &CallContext,
    ) -> Result<String, CallError> {
        let params = self.params(function, arguments, context)?;
        let returns = function.export.results.iter().any(is_handle);
        let limits = &self.inner.limits;
        let mut lease = self.checkout(Purpose::Call).await?;
        let result = lease
            .instance
            .call_export(limits, &function.export, &params, context)
            .await;
        if !returns || result.is_err() {
            self.checkin(lease, &result, Purpose::Call);
            return super::custom::answer(self.name(), &function.export, &result?);
        }
        self.inner.condition.record(&result);
        self.meter(&lease.instance);
        let held = Arc::new(Held {
            instance: tokio::sync::Mutex::new(Some(Pool::hold(lease))),
            live: AtomicUsize::new(0),
            ended: Default::default(),
            busy: Default::default(),
        });
        // Checked before the call too; sessions that raced this one may have taken the
        // room meanwhile.
        if let Err(e) = self.check_room(&function.tool, context) {
            self.end_held(&held);
            return Err(e);
        }
        let answer = self.answer(function, &result?, context, &held);
        if held.live.load(Ordering::Acquire) == 0 {
            // The function returned no resource after all (an error case).
            self.end_held(&held);
        }
        answer
    }

    /// The call's parameters: handles looked up, everything else converted from JSON.
    fn params(
        &self,
        function: &Function,
        arguments: &Value,
        context: &CallContext,
    ) -> Result<Vec<Val>, CallError> {
        let entries = self.inner.handles.lock();
        let mut params = Vec::with_capacity(function.export.params.len());
        for (name, ty) in &function.export.params {
            if is_handle(ty) {
                let entry = self.entry(&entries, &function.tool, name, arguments, context)?;
                params.push(Val::Resource(entry.resource));
                continue;
            }
            let value = arguments.get(name).unwrap_or(&Value::Null);
            let val = json::from_json(ty, value, &format!("/{name}"))
                .map_err(|p| self.bad(&function.tool, p.to_string()))?;
            params.push(val);
        }
        Ok(params)
    }

    /// Restarts the time to live of the handles the call used.
    fn touch(&self, function: &Function, arguments: &Value) {
        let mut entries = self.inner.handles.lock();
        for (name, _) in function.export.params.iter().filter(|(_, t)| is_handle(t)) {
            let id = arguments
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default();
            if let Some(entry) = entries.get_mut(id) {
                entry.expires = Instant::now() + self.inner.handle_ttl;
            }
        }
    }

    /// Forgets the handles passed as `own` parameters: the guest owns those resources now.
    /// Their instance's count of live handles drops once the call is over.
    /// Takes the entries of the handles passed as `own` out of the table: how many.
    fn consume_owned(&self, function: &Function, arguments: &Value) -> usize {
        let mut entries = self.inner.handles.lock();
        let mut consumed = 0;
        for (name, ty) in &function.export.params {
            if let (Type::Own(_), Some(id)) = (ty, arguments.get(name).and_then(Value::as_str)) {
                consumed += usize::from(entries.remove(id).is_some());
            }
        }
        consumed
    }

    /// The results as the tool's JSON text, each returned resource registered as a handle
    /// bound to `held`.
    fn answer(
        &self,
        function: &Function,
        results: &[Val],
        context: &CallContext,
        held: &Arc<Held>,
    ) -> Result<String, CallError> {
        let export = &function.export;
        match (export.results.first(), results.first()) {
            (Some(ty), Some(Val::Resource(resource))) if is_handle(ty) => {
                let id = new_id(self.name())?;
                let mut entries = self.inner.handles.lock();
                if held.ended.load(Ordering::Acquire) {
                    return Err(self.bad(&function.tool, "its instance has ended".into()));
                }
                held.live.fetch_add(1, Ordering::AcqRel);
                entries.insert(
                    id.clone(),
                    Entry {
                        held: held.clone(),
                        // The component's own view of the type (not the instance's), as
                        // the parameters it is checked against see it.
                        ty: match ty {
                            Type::Own(t) | Type::Borrow(t) => *t,
                            _ => resource.ty(),
                        },
                        resource: *resource,
                        tenant: context.tenant.clone(),
                        session: context.session_id.clone(),
                        expires: Instant::now() + self.inner.handle_ttl,
                    },
                );
                Ok(Value::String(id).to_string())
            }
            _ => super::custom::answer(self.name(), export, results),
        }
    }

    /// Refuses a new handle past the plugin's or the session's cap.
    fn check_room(&self, tool: &str, context: &CallContext) -> Result<(), CallError> {
        self.expire_handles();
        let entries = self.inner.handles.lock();
        let mine = entries
            .values()
            .filter(|e| e.tenant == context.tenant && e.session == context.session_id)
            .count();
        if entries.len() >= MAX_HANDLES || mine >= MAX_SESSION_HANDLES {
            return Err(CallError::Busy {
                plugin: self.name().to_string(),
                reason: format!(
                    "`{tool}` would make a handle past the cap ({MAX_HANDLES} per plugin, \
                     {MAX_SESSION_HANDLES} per session): drop handles no longer needed"
                ),
            });
        }
        // Instances held by handles keep their slots: one slot always stays for calls.
        let mut held: Vec<*const Held> = entries.values().map(|e| Arc::as_ptr(&e.held)).collect();
        held.sort();
        held.dedup();
        let room = self.inner.pool.max_instances().saturating_sub(1);
        if mine == 0 && held.len() >= room {
            return Err(CallError::Busy {
                plugin: self.name().to_string(),
                reason: format!(
                    "`{tool}` needs an instance of its own for this session's handles, and \
                     {} of the plugin's {} instances already serve other sessions' handles \
                     (one always stays for calls): end sessions, or load it with a larger \
                     pool",
                    held.len(),
                    self.inner.pool.max_instances()
                ),
            });
        }
        Ok(())
    }

    /// Drops the handle `id` of the caller's tenant and session: the guest's destructor
    /// runs on its instance, which is discarded once none of its handles is left.
    ///
    /// # Errors
    /// [`CallError::BadArguments`] for a handle this tenant and session do not hold; what
    /// the destructor's call fails with.
    pub async fn drop_handle(&self, id: &str, context: &CallContext) -> Result<(), CallError> {
        let removed = {
            let mut entries = self.inner.handles.lock();
            let mine = entries
                .get(id)
                .is_some_and(|e| e.tenant == context.tenant && e.session == context.session_id);
            mine.then(|| entries.remove(id)).flatten()
        };
        let Some(entry) = removed else {
            return Err(self.bad(
                "handle/drop",
                format!(
                    "no live handle `{}` in this session",
                    crate::text::escape(id)
                ),
            ));
        };
        self.drop_entry(entry).await
    }

    /// Drops every handle of `tenant`'s session `session` (the session ended). The
    /// session's instance served only it, so it is discarded whole, without running each
    /// resource's destructor.
    pub async fn end_session(&self, tenant: &str, session: &str) {
        let ended: Vec<Arc<Held>> = {
            let entries = self.inner.handles.lock();
            let mut held: Vec<Arc<Held>> = entries
                .values()
                .filter(|e| e.tenant == tenant && e.session == session)
                .map(|e| e.held.clone())
                .collect();
            held.dedup_by(|a, b| Arc::ptr_eq(a, b));
            held
        };
        for held in ended {
            held.instance.lock().await.take();
            self.end_held(&held);
        }
    }

    /// Drops every handle and discards their instances (the plugin shuts down).
    pub(super) fn drop_all_handles(&self) {
        let held: Vec<Arc<Held>> = self
            .inner
            .handles
            .lock()
            .drain()
            .map(|(_, e)| e.held)
            .collect();
        for held in held {
            self.end_held(&held);
        }
    }

    /// How many handles are live (all tenants and sessions).
    pub fn live_handles(&self) -> usize {
        self.inner.handles.lock().len()
    }

    async fn drop_entry(&self, entry: Entry) -> Result<(), CallError> {
        let mut guard = entry.held.instance.lock().await;
        let result = match guard.as_mut() {
            Some(_) if entry.held.busy.load(Ordering::Acquire) => Ok(()),
            Some(instance) => {
                instance
                    .drop_resource(&self.inner.limits, entry.resource)
                    .await
            }
            None => Ok(()),
        };
        let failed = result.as_ref().is_err_and(CallError::discards_instance)
            || entry.held.busy.load(Ordering::Acquire);
        if failed {
            guard.take();
        }
        drop(guard);
        match failed {
            true => self.end_held(&entry.held),
            false => self.release(&entry.held),
        }
        result
    }

    /// One handle on `held` is gone: the last one ends the instance.
    fn release(&self, held: &Arc<Held>) {
        if held.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.end_held(held);
        }
    }

    /// Discards `held`'s instance and every handle still on it, and frees its slot.
    fn end_held(&self, held: &Arc<Held>) {
        if held.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        self.inner
            .handles
            .lock()
            .retain(|_, e| !Arc::ptr_eq(&e.held, held));
        // A call still running on it keeps the lock: it finds the instance ended when it
        // returns and takes it then (`run_on_held`).
        if let Ok(mut guard) = held.instance.try_lock() {
            guard.take();
        }
        self.inner.pool.release_held();
    }

    /// Expires unused handles every half of their time to live (between 10 ms and 30 s)
    /// while the plugin lives, so an abandoned session's instance is freed even when no
    /// call comes.
    pub(super) fn sweep_handles(&self, ttl: Duration) {
        let plugin = Arc::downgrade(&self.inner);
        let every = (ttl / 2).clamp(Duration::from_millis(10), Duration::from_secs(30));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = plugin.upgrade() else { break };
                let plugin = Plugin { inner };
                if plugin.is_shut_down() {
                    break;
                }
                plugin.expire_handles();
            }
        });
    }

    /// Drops the handles whose time ran out (their destructors are not run: their
    /// instances are discarded once no handle is left on them).
    pub(super) fn expire_handles(&self) {
        let now = Instant::now();
        let expired: Vec<Entry> = {
            let mut entries = self.inner.handles.lock();
            let ids: Vec<String> = entries
                .iter()
                .filter(|(_, e)| e.expires <= now)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| entries.remove(id)).collect()
        };
        for entry in expired {
            self.release(&entry.held);
        }
    }

    fn bad(&self, tool: &str, problem: String) -> CallError {
        CallError::BadArguments {
            plugin: self.name().to_string(),
            tool: tool.to_string(),
            problems: vec![problem],
        }
    }
}
