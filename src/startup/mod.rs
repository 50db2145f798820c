//! The one wiring path, shared by the binary and the tests: build the
//! backends from settings, the pipeline and its pollers, the HTTP and
//! metrics servers; then run until the shutdown token is cancelled.

use std::{net::TcpListener, sync::Arc, time::Duration};

use anyhow::Context;

use actix_web::{
    App, HttpResponse, HttpServer,
    dev::Server,
    http::header::X_CONTENT_TYPE_OPTIONS,
    middleware::{DefaultHeaders, from_fn},
    web,
};
use sd_notify::NotifyState;
use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

mod listeners;

use listeners::Listeners;

pub use crate::backends::Backends;

use crate::{
    api::{self, ApiTokens, AppState},
    aws,
    config::Settings,
    images::{Images, Outputs},
    imaging::CpuPool,
    jobs::{DeliveryHandler, Heartbeats, Pipeline, PollerDeps, QueuePoller, Reconciler, Spec},
    liveness::{Activity, Liveness},
    queue::JobQueue,
    systemd::Systemd,
    telemetry,
    workers::Runner,
};

/// How long requests still in flight get once the drain is over; the
/// API and metrics servers stop together. With the jobs' grace this stays
/// within the unit's `TimeoutStopSec`.
const HTTP_STOP: Duration = Duration::from_secs(5);

pub struct Application {
    port: u16,
    metrics_port: Option<u16>,
    server: Server,
    metrics_server: Option<Server>,
    shutdown: CancellationToken,
    jobs: TaskTracker,
    grace: Duration,
    liveness: Liveness,
    /// Counts the deliveries in hand: the status line's "jobs finished".
    progress: Arc<Activity>,
    /// Workers that serve the jobs through the drain (heartbeats, the
    /// systemd monitor), stopped after it by cancelling `services_stop`.
    services: Runner,
    services_stop: CancellationToken,
    systemd: Systemd,
    pub backends: Backends,
}

impl Application {
    /// Builds everything and starts the pollers; must run inside an actix
    /// `System`. Binding port 0 picks a free port (see [`Application::port`]).
    /// The listeners come first: a taken port, or a public address that
    /// cannot be found, stops the start before anything is made in
    /// `data_dir` or a database.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listeners = Listeners::bind(&settings).await?;
        let backends = Backends::build(&settings).await?;
        Self::start(settings, backends, listeners).await
    }

    /// As [`Application::build`], on backends already built (a test may
    /// wrap one to inject faults).
    pub async fn with_backends(settings: Settings, backends: Backends) -> anyhow::Result<Self> {
        let listeners = Listeners::bind(&settings).await?;
        Self::start(settings, backends, listeners).await
    }

    async fn start(settings: Settings, backends: Backends, listeners: Listeners) -> anyhow::Result<Self> {
        let shutdown = CancellationToken::new();
        let jobs = TaskTracker::new();
        let Listeners { api: listener, metrics, public_base } = listeners;
        let port = listener.local_addr()?.port();
        tracing::info!(public_base, "download links");
        let tokens = api_tokens(&settings).await?;
        let spool = api::open_spool(settings.spool_dir()).await?;
        if !crate::imaging::jpeg::simd() {
            tracing::warn!(
                "this build lacks libjpeg-turbo's SIMD code (nasm was missing when it was built): JPEG thumbnails \
                 take about a fifth longer; install nasm, then cargo clean -p mozjpeg-sys and build again"
            );
        }
        if let Err(why) = crate::imaging::heif_library() {
            let avif = settings.processing.formats.contains(&crate::imaging::Format::Avif);
            anyhow::ensure!(!avif, "processing.formats asks for avif, which needs libheif: {why}");
            tracing::warn!("HEIC and AVIF uploads are refused (415): {why}");
        }
        if tokens.is_empty() {
            tracing::warn!("the mutating routes are open to anyone who reaches them: set http.api_tokens");
        }
        let images = images(&settings, &backends, public_base);
        let liveness = Liveness::default();
        let state =
            AppState::new(&backends, images.clone(), &settings, liveness.clone(), tokens, shutdown.clone(), spool);
        let feed = state.feed.reader(backends.meta.clone());
        let state = web::Data::new(state);
        let origins = settings.http.cors_origins.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                // Outside the routes' token checks: preflights are answered,
                // and a 401 is readable.
                .wrap(api::cors(&origins))
                // Nothing served is to be sniffed into another type (an
                // uploaded "image" rendered as HTML).
                .wrap(DefaultHeaders::new().add((X_CONTENT_TYPE_OPTIONS, "nosniff")))
                .wrap(from_fn(api::metrics_middleware))
                .wrap(from_fn(api::request_id_middleware))
                .configure(api::configure)
        })
        .disable_signals()
        .shutdown_timeout(HTTP_STOP.as_secs())
        .listen(listener)?;
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }

        let (metrics_server, metrics_port) = match metrics {
            Some(listener) => {
                let (server, port) = metrics_server(listener, backends.queue.clone())?;
                (Some(server), Some(port))
            }
            None => (None, None),
        };
        // The pollers and the reconciler stop with the host, in the tracker
        // that the drain waits for with the jobs they start.
        let runner = Runner::new(liveness.clone(), shutdown.clone(), jobs.clone());
        let services_stop = CancellationToken::new();
        let services = Runner::new(liveness.clone(), services_stop.clone(), TaskTracker::new());
        let progress = start_pollers(&settings, &backends, &images, &runner, &services, &jobs, &liveness)?;
        runner.spawn(feed);
        if settings.reconcile.interval_secs > 0 {
            runner.spawn(reconciler(&settings, &backends, images));
        }
        for why in &settings.decided {
            tracing::info!(setting = why.as_str(), "decided");
        }
        tracing::info!(port, ?metrics_port, data_dir = %settings.data_dir.display(), "imaged ready");
        Ok(Self {
            port,
            metrics_port,
            server: server.run(),
            metrics_server,
            shutdown,
            jobs,
            grace: Duration::from_secs(settings.processing.shutdown_grace_secs),
            liveness,
            progress,
            services,
            services_stop,
            systemd: Systemd::from_env(),
            backends,
        })
    }

    /// Notifies this stand-in for systemd instead of `NOTIFY_SOCKET`'s.
    pub fn with_systemd(self, systemd: Systemd) -> Self {
        Self { systemd, ..self }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// Cancelling this token stops the application gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the token is cancelled, then: `/readyz` answers 503,
    /// pollers stop receiving, jobs not yet admitted hand their messages
    /// back, running jobs get `shutdown_grace_secs` to finish, and last the
    /// HTTP servers stop, together, giving open requests [`HTTP_STOP`].
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handles: Vec<_> = std::iter::once(&self.server).chain(&self.metrics_server).map(Server::handle).collect();
        let mut server = tokio::spawn(self.server);
        if let Some(metrics) = self.metrics_server {
            tokio::spawn(metrics);
        }
        self.systemd.notify(&[NotifyState::Ready]);
        let queue = self.backends.queue.clone();
        if let Some(worker) = self.systemd.clone().monitor(self.liveness.clone(), self.progress.clone(), queue) {
            self.services.spawn(worker);
        }
        let early = tokio::select! {
            _ = self.shutdown.cancelled() => None,
            result = &mut server => Some(result),
        };
        let draining = format!("draining: {} jobs running", self.progress.running());
        self.systemd.notify(&[NotifyState::Stopping, NotifyState::Status(&draining)]);
        self.shutdown.cancel();
        self.jobs.close();
        if tokio::time::timeout(self.grace, self.jobs.wait()).await.is_err() {
            tracing::warn!(
                running = self.jobs.len(),
                "grace period over; unfinished messages reappear after their visibility timeout"
            );
        }
        futures_util::future::join_all(handles.iter().map(|handle| handle.stop(true))).await;
        self.services_stop.cancel();
        match early {
            Some(result) => Ok(result??),
            None => Ok(()),
        }
    }
}

/// Starts the pollers; returns the counter of the deliveries they hand out.
fn start_pollers(
    settings: &Settings,
    backends: &Backends,
    images: &Arc<Images>,
    runner: &Runner,
    services: &Runner,
    jobs: &TaskTracker,
    liveness: &Liveness,
) -> anyhow::Result<Arc<Activity>> {
    let handler = job_handler(settings, backends, images.clone(), services, liveness)?;
    let progress = handler.progress.clone();
    // Two jobs per core keep the CPU busy while others wait on I/O.
    let slots = Arc::new(Semaphore::new(handler.pipeline.cpu.threads() * 2));
    let deps = PollerDeps {
        handler: Arc::new(handler),
        slots,
        batch_size: settings.queue.batch_size,
        wait: Duration::from_secs(settings.queue.wait_secs),
        tracker: jobs.clone(),
    };
    for id in 0..settings.queue.pollers {
        runner.spawn(QueuePoller::new(id, deps.clone()));
    }
    Ok(progress)
}

/// The job handler over these backends: the pipeline, its CPU pool and
/// pixel budget, and the queue settings it retries and heartbeats with.
/// The jobs and the pool report their progress to `liveness`.
pub fn job_handler(
    settings: &Settings,
    backends: &Backends,
    images: Arc<Images>,
    services: &Runner,
    liveness: &Liveness,
) -> anyhow::Result<DeliveryHandler> {
    let p = &settings.processing;
    let stall = Duration::from_secs(p.stall_secs);
    let spec = Spec { outputs: Outputs::of(p), quality: p.quality, max_pixels: p.max_pixels };
    let pipeline = Pipeline::new(
        images,
        backends.blobs.clone(),
        backends.meta.clone(),
        backends.notifier.clone(),
        Arc::new(CpuPool::new(p.workers, liveness.counter("CPU pool", stall))?),
        spec,
        p.pixel_budget_mp,
    );
    let visibility = Duration::from_secs(settings.queue.visibility_timeout_secs);
    let heartbeats = Heartbeats::new(backends.queue.clone(), visibility);
    services.spawn(heartbeats.worker());
    Ok(DeliveryHandler {
        queue: backends.queue.clone(),
        pipeline: Arc::new(pipeline),
        visibility,
        heartbeats,
        max_receives: backends.queue.max_receives(),
        progress: liveness.counter("jobs", stall),
    })
}

/// The reconciler over these backends (see [`Reconciler`]).
pub fn reconciler(settings: &Settings, backends: &Backends, images: Arc<Images>) -> Reconciler {
    Reconciler {
        images,
        meta: backends.meta.clone(),
        queue: backends.queue.clone(),
        settings: settings.reconcile.clone(),
    }
}

/// An image's lifecycle over these backends; `public_base` is the base of
/// the download links in the messages it sends.
pub fn images(settings: &Settings, backends: &Backends, public_base: String) -> Arc<Images> {
    let Backends { meta, blobs, queue, .. } = backends.clone();
    Arc::new(Images::new(meta, blobs, queue, Outputs::of(&settings.processing), public_base))
}

/// The bearer tokens of `http.api_tokens` and of `http.api_tokens_secret`.
pub async fn api_tokens(settings: &Settings) -> anyhow::Result<ApiTokens> {
    let mut tokens = ApiTokens::parse(&settings.http.api_tokens);
    let secret = &settings.http.api_tokens_secret;
    if !secret.is_empty() {
        let sdk = crate::backends::sdk_config(settings).await;
        let sdk = sdk.as_ref().context("http.api_tokens_secret needs the AWS SDK configuration")?;
        tokens.extend(ApiTokens::parse(&aws::secret_field(sdk, secret, "api_tokens").await?));
    }
    Ok(tokens)
}

/// Prometheus text on its own listener, so scraping never competes with
/// (or is exposed with) the API. The queue's gauges are read at each
/// scrape, so they are as fresh as the scrape.
fn metrics_server(listener: TcpListener, queue: Arc<dyn JobQueue>) -> anyhow::Result<(Server, u16)> {
    let handle = telemetry::metrics_handle();
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        let (handle, queue) = (handle.clone(), queue.clone());
        App::new().route(
            "/metrics",
            web::get().to(move || {
                let (handle, queue) = (handle.clone(), queue.clone());
                async move {
                    crate::queue::record_stats(queue.as_ref()).await;
                    telemetry::record_process();
                    handle.run_upkeep();
                    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(handle.render())
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(HTTP_STOP.as_secs())
    .listen(listener)?
    .run();
    Ok((server, port))
}
