//! Reaching providers: the endpoint each provider is reached at (a base
//! URL, or the in-process simulator), the providers built for it, and one
//! core `Client` per fallback order and strictness, all over one set of
//! budgets: every request to an account, from any job, draws on the same
//! rate and retry budget.
//!
//! A batch remembers each provider's endpoint. Resuming it uses the
//! recorded endpoint, because a known task id only means something to the
//! host that issued it; a command line that names another endpoint is
//! refused unless it says the endpoint moved.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use imagegen_core::{
    ApiKey, Budgets, Client, ClientObserver, ImageProvider, LatencyEstimates, PollPolicy,
    ProviderConfig, RateLimit, Strictness,
};
use imagegen_jobs::Endpoint;
use imagegen_sim::{Sim, SimConfig, SimHandle};

use crate::args::{ConnArgs, SimProfile};
use crate::exit::{CliError, CliResult};
use crate::providers::{base_url_vars, registration};

/// The simulator's request limits and the client's matching budget for
/// `--sim --sim-profile fast`: the tightest documented limit (20 per 10 s),
/// ten times faster.
const FAST_SIM_RATE: (u32, Duration) = (20, Duration::from_secs(1));

/// How the clients behave, beyond their providers.
#[derive(Debug, Clone, Default)]
pub struct ClientSettings {
    /// Resend creates that may have been accepted (`--retry-ambiguous`).
    pub retry_ambiguous: bool,
    /// Hears the waits for rate budgets and retries (the progress display).
    pub observer: Option<Arc<dyn ClientObserver>>,
    /// The PostgreSQL job store (its URL) whose queue this run shares with
    /// other workers; `None` for a batch folder's journal.
    pub shared_store: Option<String>,
}

/// The endpoints a batch recorded, and whether the user says they moved.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Each provider's recorded endpoint.
    pub endpoints: BTreeMap<String, Endpoint>,
    /// `--endpoint-moved`.
    pub moved: bool,
}

/// A provider built for its endpoint.
struct Reached {
    provider: Arc<dyn ImageProvider>,
    endpoint: Endpoint,
}

/// The providers in use, reached at their endpoints.
pub struct Connection {
    /// Grows while a worker runs: a job enqueued later may name a provider
    /// the queue did not use when the worker started.
    reached: Mutex<BTreeMap<&'static str, Reached>>,
    /// The simulator's base URL, when one runs.
    sim_url: Option<String>,
    /// `--base-url`, `--sim` and the environment, for providers reached later.
    conn: ConnArgs,
    clients: Mutex<HashMap<(Vec<String>, bool), Client>>,
    /// How long tasks took in earlier runs of the batch: every client
    /// starts its poll schedule from it.
    latency: Mutex<LatencyEstimates>,
    budgets: Arc<Budgets>,
    rate_limit: Option<(u32, Duration)>,
    poll_interval: Option<Duration>,
    settings: ClientSettings,
    notes: Vec<String>,
    /// The in-process simulator, alive as long as the connection.
    _sim: Option<SimHandle>,
}

/// Where, in a batch folder, the in-process simulator keeps its state.
pub const SIM_STATE_DIR: &str = ".imagegen-sim";

impl Connection {
    /// Reaches `names` (checked names) as the command line says, or where
    /// `recorded` says a batch reached them; `sim_state` is where an
    /// in-process simulator keeps its tasks (a batch folder).
    pub async fn open(
        names: &[&'static str],
        conn: &ConnArgs,
        recorded: &Recorded,
        sim_state: Option<&Path>,
        settings: ClientSettings,
    ) -> CliResult<Connection> {
        if conn.base_url.is_some() && names.len() > 1 {
            return Err(CliError::usage(
                "--base-url applies to one provider, but several are in use",
            )
            .hint(format!(
                "set the providers' base-URL variables instead ({})",
                base_url_vars()
            )));
        }
        let (chosen, notes) = choose_endpoints(names, conn, recorded)?;

        let mut rate_limit = conn.rate_limit;
        let mut poll_interval = conn.poll_interval;
        let sim = if chosen.iter().any(|(_, e)| *e == Endpoint::Sim) {
            let profile = if conn.sim {
                conn.sim_profile
            } else {
                SimProfile::Fast
            };
            let config = match profile {
                SimProfile::Fast => {
                    rate_limit.get_or_insert(FAST_SIM_RATE);
                    poll_interval.get_or_insert(Duration::from_millis(50));
                    SimConfig::fast().interactive_limits(FAST_SIM_RATE.0, FAST_SIM_RATE.1)
                }
                SimProfile::Realistic => SimConfig::realistic(),
            };
            // In a batch folder the simulator keeps its tasks, so a resume's
            // simulator answers for the tasks the killed batch's one made.
            let config = match sim_state {
                Some(dir) => config.state_dir(dir.join(SIM_STATE_DIR)),
                None => config,
            };
            Some(
                Sim::start(config)
                    .await
                    .map_err(|e| CliError::failed(format!("cannot start the simulator: {e}")))?,
            )
        } else {
            None
        };

        let sim_url = sim.as_ref().map(|s| s.base_url().to_string());
        let mut reached = BTreeMap::new();
        for (name, endpoint) in chosen {
            let provider = build_provider(name, &endpoint, sim_url.as_deref())?;
            reached.insert(name, Reached { provider, endpoint });
        }
        // Workers of a shared store pace each key together; anything else
        // paces it within this process (its clients all share `budgets`).
        let budgets = match settings.shared_store.as_deref() {
            Some(url) => crate::commands::store::shared_budgets(url).await?,
            None => Budgets::default(),
        };
        Ok(Connection {
            reached: Mutex::new(reached),
            sim_url,
            conn: conn.clone(),
            clients: Mutex::new(HashMap::new()),
            latency: Mutex::new(LatencyEstimates::default()),
            budgets: Arc::new(budgets),
            rate_limit,
            poll_interval,
            settings,
            notes,
            _sim: sim,
        })
    }

    /// What the user should know about the endpoints chosen.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Where `provider` is reached.
    pub fn endpoint(&self, provider: &str) -> Option<Endpoint> {
        self.reached_now().get(provider).map(|r| r.endpoint.clone())
    }

    /// Every provider reached, with its endpoint.
    pub fn endpoints(&self) -> Vec<(&'static str, Endpoint)> {
        self.reached_now()
            .iter()
            .map(|(name, r)| (*name, r.endpoint.clone()))
            .collect()
    }

    /// Whether `provider` is reached.
    pub fn reaches(&self, provider: &str) -> bool {
        self.reached_now().contains_key(provider)
    }

    /// Reaches `name` too, at `recorded` (where its queue reached it), else
    /// where this command says; returns the endpoint. A worker does this
    /// for a job naming a provider the queue did not name when it started.
    pub fn reach(&self, name: &'static str, recorded: Option<Endpoint>) -> CliResult<Endpoint> {
        if let Some(endpoint) = self.endpoint(name) {
            return Ok(endpoint);
        }
        if self.conn.base_url.is_some() && !self.reached_now().is_empty() {
            return Err(CliError::usage(format!(
                "--base-url applies to one provider, but a job names {name} too"
            ))
            .hint(format!(
                "set the providers' base-URL variables instead ({})",
                base_url_vars()
            )));
        }
        let recorded = Recorded {
            endpoints: recorded
                .map(|e| BTreeMap::from([(name.to_owned(), e)]))
                .unwrap_or_default(),
            moved: false,
        };
        let (mut chosen, _notes) = choose_endpoints(&[name], &self.conn, &recorded)?;
        let Some((_, endpoint)) = chosen.pop() else {
            return Err(CliError::failed(format!("no endpoint for {name}")));
        };
        let provider = build_provider(name, &endpoint, self.sim_url.as_deref())?;
        self.reached_now().entry(name).or_insert(Reached {
            provider,
            endpoint: endpoint.clone(),
        });
        Ok(endpoint)
    }

    fn reached_now(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, Reached>> {
        self.reached.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the clients made from now on with `snapshot`, how long tasks
    /// took in earlier runs.
    pub fn restore_latency(&self, snapshot: LatencyEstimates) {
        *self.latency.lock().unwrap_or_else(|p| p.into_inner()) = snapshot;
    }

    /// What every client learned about how long tasks take, with what it
    /// started from; of two estimates of one kind of task, the one learned
    /// from more tasks.
    pub fn latency_estimates(&self) -> LatencyEstimates {
        let mut all = self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        for client in clients.values() {
            for entry in client.latency_estimates().entries {
                let better = all
                    .get(&entry.key)
                    .is_none_or(|known| entry.estimate.samples >= known.samples);
                if better {
                    all.insert(entry.key, entry.estimate);
                }
            }
        }
        all
    }

    /// The client that tries `order` in turn, with `strictness`.
    pub fn client(&self, order: &[String], strictness: Strictness) -> CliResult<Client> {
        let best_effort = strictness == Strictness::BestEffort;
        let key = (order.to_vec(), best_effort);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let latency = self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut builder = Client::builder()
            .latency_estimates(latency)
            .strictness(strictness)
            .retry_ambiguous_creates(self.settings.retry_ambiguous);
        if let Some(interval) = self.poll_interval {
            builder = builder.poll_policy(
                PollPolicy::default()
                    .with_initial_interval(interval)
                    .with_max_interval(interval),
            );
        }
        if let Some(observer) = &self.settings.observer {
            builder = builder.observer(observer.clone());
        }
        {
            let reached = self.reached_now();
            for name in order {
                let reached = reached.get(name.as_str()).ok_or_else(|| {
                    CliError::failed(format!("provider `{name}` was not connected"))
                })?;
                builder = builder.provider_arc(reached.provider.clone());
                if let Some((requests, per)) = self.rate_limit {
                    builder = builder.rate_limit(name.clone(), RateLimit { requests, per });
                }
            }
        }
        let client = builder.budgets(self.budgets.clone()).build()?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

/// The provider `name` reached at `endpoint` (`sim_url`: the simulator's
/// base URL, when one runs).
fn build_provider(
    name: &'static str,
    endpoint: &Endpoint,
    sim_url: Option<&str>,
) -> CliResult<Arc<dyn ImageProvider>> {
    let spec = registration(name)?.spec;
    let config = match (endpoint, sim_url) {
        (Endpoint::Sim, Some(sim)) => ProviderConfig::new()
            .api_key(ApiKey::new(imagegen_sim::DEFAULT_API_KEY))
            .base_url(format!("{sim}{}", spec.sim_path)),
        (Endpoint::Url(url), _) => ProviderConfig::new().base_url(url.clone()),
        (Endpoint::Sim, None) => {
            return Err(CliError::failed("the simulator did not start"));
        }
    };
    Ok(imagegen::provider(name, config)?)
}

/// Each provider with the endpoint it is reached at.
pub type Chosen = Vec<(&'static str, Endpoint)>;

/// Where each of `names` is reached: as the command line says, or where
/// `recorded` says a batch reached it (see the module docs); with what the
/// user should be told about the choice.
pub fn choose_endpoints(
    names: &[&'static str],
    conn: &ConnArgs,
    recorded: &Recorded,
) -> CliResult<(Chosen, Vec<String>)> {
    let mut notes = Vec::new();
    let mut chosen: Vec<(&'static str, Endpoint)> = Vec::new();
    for &name in names {
        let (given, explicit) = given_endpoint(name, conn)?;
        let endpoint = match recorded.endpoints.get(name) {
            None => given,
            Some(was) if *was == given => given,
            Some(_) if recorded.moved => {
                notes.push(format!(
                    "{name}: the endpoint moved to {given} (--endpoint-moved)"
                ));
                given
            }
            Some(was) if explicit => {
                return Err(CliError::usage(format!(
                        "this batch reached {name} at {was}, but this command says {given}"
                    ))
                    .hint(format!(
                        "its task ids are only known at {was}; drop the option to resume there, or pass --endpoint-moved if {name} really moved"
                    )));
            }
            Some(was) => {
                notes.push(format!(
                        "{name}: resuming at the batch's endpoint {was} (the environment says {given}; --endpoint-moved uses it)"
                    ));
                was.clone()
            }
        };
        chosen.push((name, endpoint));
    }

    Ok((chosen, notes))
}

/// The endpoint of `name` as this command gives it, and whether an option
/// named it (rather than the environment or the default).
fn given_endpoint(name: &'static str, conn: &ConnArgs) -> CliResult<(Endpoint, bool)> {
    if conn.sim {
        return Ok((Endpoint::Sim, true));
    }
    if let Some(url) = &conn.base_url {
        return Ok((Endpoint::Url(url.clone()), true));
    }
    let spec = registration(name)?.spec;
    let url = std::env::var(spec.base_url_var)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| spec.default_base_url.to_owned());
    Ok((Endpoint::Url(url), false))
}
