//! Traces over OpenTelemetry (feature `otel`): the `socket` and `message` spans of venta-ws,
//! and every span of the application under the same subscriber, exported over OTLP.
//!
//! [`Tracing`] owns a tracer provider with a batching exporter; its [`layer`](Tracing::layer)
//! goes into the application's `tracing` subscriber next to its log layer. Each message is one
//! `message` span, child of its socket's `socket` span, with the fields of [`crate::logging`]
//! as attributes: a trace backend shows a socket with one operation per message, its outcome
//! and duration. A socket span is exported when the socket ends; its message spans are
//! exported as they finish, so a trace view shows them under a parent that appears once the
//! socket closes.
//!
//! [`Tracing::otlp`] speaks OTLP over HTTP with protobuf, to a collector or agent without
//! TLS (a sidecar or a node-local agent, the usual setup); the standard variables
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and
//! `OTEL_EXPORTER_OTLP_HEADERS` apply. [`Tracing::with_exporter`] takes any other
//! [`SpanExporter`].
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Batches and sends spans to http://localhost:4318/v1/traces unless the environment says
//! // otherwise.
//! let traces = venta_ws::otel::Tracing::otlp("location-gateway", None)?;
//! // What is exported: spans at INFO, and the message spans, which are at DEBUG under their
//! // own target. Never TRACE: tungstenite logs whole frames there, and a frame may hold a token.
//! let exported = tracing_subscriber::EnvFilter::new("info,venta_ws::message=debug");
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer().with_filter(tracing_subscriber::EnvFilter::new("info")))
//!     .with(traces.layer().with_filter(exported))
//!     .init();
//! // ... serve ...
//! traces.shutdown()?; // sends what is still batched
//! # Ok(())
//! # }
//! ```

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanExporter};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::registry::LookupSpan;

pub use opentelemetry_otlp::ExporterBuildError;

/// The path OTLP over HTTP sends traces to, under the collector's base URL.
const TRACES_PATH: &str = "v1/traces";

/// Spans exported over OpenTelemetry; see the [module](self) documentation.
#[derive(Debug, Clone)]
pub struct Tracing {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Tracing {
    /// Exports over OTLP/HTTP (protobuf) in batches, as service `service_name`. `endpoint` is
    /// the collector's base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` would give it
    /// (`http://collector:4318`; `/v1/traces` is appended); `None` takes it from the
    /// environment, else `http://localhost:4318`.
    pub fn otlp(service_name: &str, endpoint: Option<&str>) -> Result<Self, ExporterBuildError> {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_http();
        if let Some(endpoint) = endpoint {
            exporter = exporter.with_endpoint(format!("{}/{TRACES_PATH}", endpoint.trim_end_matches('/')));
        }
        Ok(Self::with_exporter(service_name, exporter.build()?))
    }

    /// Exports through `exporter` in batches, as service `service_name`.
    pub fn with_exporter(service_name: &str, exporter: impl SpanExporter + 'static) -> Self {
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service_name.to_owned()).build())
            .build();
        let tracer = provider.tracer("venta-ws");
        Self { provider, tracer }
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans.
    pub fn layer<S>(&self) -> OpenTelemetryLayer<S, SdkTracer>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.tracer.clone())
    }

    /// Sends every finished span that is still batched, and waits for the exporter.
    pub fn flush(&self) -> OTelSdkResult {
        self.provider.force_flush()
    }

    /// Flushes, then stops the exporter; spans that finish later are dropped. Call it once
    /// the server has stopped, so the sockets' spans are in.
    pub fn shutdown(&self) -> OTelSdkResult {
        self.provider.shutdown()
    }
}
