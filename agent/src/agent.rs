//! The agent: collection loop, push port and sender, started together.

use crate::collect::Collector;
use crate::config::AgentConfig;
use crate::push::{self, Format};
use crate::sender::{self, Queue, Sender};
use actix_web::{web, App, HttpResponse, HttpServer};
use argus_core::http::{metrics_response, Served};
use argus_core::telemetry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// State shared by the push port's handlers.
pub struct Shared {
    /// The configuration in force.
    pub cfg: AgentConfig,
    /// The endpoint name this host reports as.
    pub endpoint: String,
    /// Outgoing points.
    pub queue: Arc<Queue>,
    /// `/metrics`.
    pub registry: Registry,
}

/// A running agent.
pub struct Running {
    /// The push port.
    pub server: Served,
    /// Outgoing points.
    pub queue: Arc<Queue>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops the push port and the loops.
    pub async fn stop(self) {
        self.server.stop().await;
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Starts the agent with `cfg`.
pub async fn start(cfg: AgentConfig) -> anyhow::Result<Running> {
    let endpoint = cfg.endpoint();
    let registry = Registry::new();
    let dropped = registry.counter(
        "argus_agent_points_dropped_total",
        "Points dropped because the buffer was full.",
        &[],
    );
    let queue = Arc::new(Queue::new(cfg.buffer_max_points, dropped));
    let shared = web::Data::new(Shared {
        cfg: cfg.clone(),
        endpoint: endpoint.clone(),
        queue: queue.clone(),
        registry,
    });
    let (listener, addr) = argus_core::http::bind(&cfg.listen, "argus-agent push port")?;
    let st = shared.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(st.clone())
            .app_data(web::PayloadConfig::new(16 << 20))
            .route(
                "/health",
                web::get()
                    .to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
            )
            .route(
                "/metrics",
                web::get().to(|s: web::Data<Shared>| async move { metrics_response(&s.registry) }),
            )
            .route(
                "/v1/push",
                web::post().to(|b, s| push::push(b, s, Format::Falcon)),
            )
            .route(
                "/api/v1/push",
                web::post().to(|b, s| push::push(b, s, Format::Argus)),
            )
    })
    .workers(1)
    .listen(listener)?
    .run();
    let mut tasks = Vec::new();
    let snd = Sender::new(cfg.transfers.clone(), cfg.token.clone());
    tasks.push(tokio::spawn(sender::run(
        queue.clone(),
        snd,
        cfg.batch_max_points,
        Duration::from_millis(cfg.flush_interval_ms),
    )));
    if cfg.collect_host_metrics {
        let q = queue.clone();
        let step = cfg.step_secs.max(1);
        tasks.push(tokio::spawn(async move {
            let mut c = Collector::new(endpoint, step as u32);
            // First round soon, so rates have a baseline and the host shows up at once.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let mut tick = tokio::time::interval(Duration::from_secs(step));
            loop {
                tick.tick().await;
                q.push(c.collect(argus_core::time::now_secs()));
            }
        }));
    }
    tracing::info!(%addr, endpoint = %shared.endpoint, "argus-agent push port serving");
    Ok(Running {
        server: Served::spawn(addr, server),
        queue,
        tasks,
    })
}
