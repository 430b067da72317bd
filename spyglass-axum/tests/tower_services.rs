//! The layer on tower HTTP services other than axum's `Router`, over real loopback HTTP: a tonic
//! gRPC server (OpenTelemetry's trace service definitions, served by tonic) and a plain hyper server.
//! Neither has axum's `MatchedPath`, so the layer names routes from the path (`route_from_path`).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use spyglass_axum::SpyglassLayer;
use spyglass_http_suite::recorded::{count, instance, req_events, row, wait_count};
use tower::Layer;

const EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Answers by the number of resource spans sent: none is OK, one fails on the server's side
/// (INTERNAL), more fails on the caller's (NOT_FOUND).
struct Outcomes;

#[tonic::async_trait]
impl TraceService for Outcomes {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        match request.get_ref().resource_spans.len() {
            0 => Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            })),
            1 => Err(tonic::Status::internal("store failed: 100% full")),
            _ => Err(tonic::Status::not_found("no such tenant")),
        }
    }
}

/// Serves `Outcomes` with tonic behind `layer` on loopback; returns its address.
async fn serve_tonic(layer: SpyglassLayer) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(layer)
            .add_service(TraceServiceServer::new(Outcomes))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    addr
}

#[tokio::test]
async fn tonic_calls_are_recorded_with_their_grpc_outcome() {
    let (sg, mem) = instance();
    let addr = serve_tonic(SpyglassLayer::with_instance(sg.clone()).route_from_path()).await;
    let mut client = TraceServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let req = |n: usize| ExportTraceServiceRequest {
        resource_spans: vec![Default::default(); n],
    };
    let ok = client.export(req(0)).await.unwrap();
    let traceparent = ok
        .metadata()
        .get("traceparent")
        .expect("the call's traceparent in the response metadata")
        .to_str()
        .unwrap()
        .to_string();
    let failed = client.export(req(1)).await.unwrap_err();
    assert_eq!(failed.code(), tonic::Code::Internal);
    let refused = client.export(req(2)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound);

    wait_count(&sg, EXPORT, 3).await;
    let r = row(&sg, EXPORT);
    assert_eq!(
        r.errors, 1,
        "INTERNAL is the server's error, NOT_FOUND the caller's (like a 4xx)"
    );
    assert!(r.bytes_out > 0, "response frames counted: {r:?}");
    // Each call's request body is one gRPC message: a 5-byte prefix and 0, 1 or 2 empty resource
    // spans of 2 bytes each. Streamed (no length), it is counted as its frames pass with the
    // `tonic` feature; without it, taken at its lower size bound.
    let expected_in = if cfg!(feature = "tonic") {
        5 + 7 + 9
    } else {
        0
    };
    assert_eq!(r.bytes_in, expected_in, "{r:?}");
    assert!(sg.flush(Duration::from_secs(10)));
    let events = req_events(&mem);
    assert_eq!(events.len(), 3);
    assert!(
        events
            .iter()
            .all(|(_, r)| r.status == 200 && r.method == "POST"),
        "a gRPC call's HTTP status is 200 whatever its outcome: {events:?}"
    );
    let errors: Vec<_> = events.iter().filter(|(e, _)| e.is_error()).collect();
    assert_eq!(errors.len(), 1, "{events:?}");
    assert_eq!(
        errors[0].1.error.as_deref(),
        Some("gRPC 13 INTERNAL: store failed: 100% full"),
        "the percent-encoded grpc-message, decoded"
    );
    let ok_trace = &traceparent[3..35];
    assert!(
        events
            .iter()
            .any(|(e, r)| e.trace_id.to_hex().as_str() == ok_trace && r.error.is_none()),
        "the traceparent returned names the recorded call: {traceparent}"
    );
}

/// Serves `svc` (the layer around a service of hyper's requests) over HTTP/1.1 on loopback.
async fn serve_hyper<S, B>(svc: S) -> spyglass_http_suite::App
where
    S: tower::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let svc = hyper_util::service::TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    spyglass_http_suite::App::new(addr)
}

#[tokio::test]
async fn a_plain_hyper_service_is_recorded() {
    let (sg, _mem) = instance();
    let echo = tower::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
        let status = if req.uri().path() == "/fail" {
            503
        } else {
            200
        };
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let mut resp = http::Response::new(Full::new(body));
        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap();
        Ok::<_, Infallible>(resp)
    });
    let app = serve_hyper(
        SpyglassLayer::with_instance(sg.clone())
            .route_from_path()
            .layer(echo),
    )
    .await;
    let a = app
        .send(
            app.req(reqwest::Method::POST, "/echo")
                .body(Bytes::from_static(b"twelve bytes")),
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.text(), "twelve bytes");
    assert!(a.header("traceparent").is_some());
    assert_eq!(app.get("/fail").await.status, 503);
    wait_count(&sg, "/echo", 1).await;
    wait_count(&sg, "/fail", 1).await;
    let echo = row(&sg, "/echo");
    assert_eq!((echo.bytes_in, echo.bytes_out, echo.errors), (12, 12, 0));
    assert_eq!(row(&sg, "/fail").errors, 1);
}

/// A gRPC-style answer whose outcome comes in trailers after the data (as a streaming call's
/// does): the layer reads `grpc-status` from the trailer frame as it passes.
#[tokio::test]
async fn a_grpc_status_in_trailers_is_read_as_they_pass() {
    let (sg, mem) = instance();
    let streaming = tower::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
        let mut trailers = http::HeaderMap::new();
        let (code, message) = match req.uri().path() {
            "/svc.Feed/Broken" => ("14", "backend%20down%3A retry"),
            _ => ("0", ""),
        };
        trailers.insert("grpc-status", http::HeaderValue::from_static(code));
        trailers.insert("grpc-message", http::HeaderValue::from_static(message));
        let frames = vec![
            Ok::<_, Infallible>(http_body::Frame::data(Bytes::from_static(b"chunk"))),
            Ok(http_body::Frame::trailers(trailers)),
        ];
        let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
        Ok::<_, Infallible>(http::Response::new(body))
    });
    let app = serve_hyper(
        SpyglassLayer::with_instance(sg.clone())
            .route_from_path()
            .layer(streaming),
    )
    .await;
    assert_eq!(app.get("/svc.Feed/Broken").await.status, 200);
    assert_eq!(app.get("/svc.Feed/Fine").await.status, 200);
    wait_count(&sg, "/svc.Feed/Broken", 1).await;
    wait_count(&sg, "/svc.Feed/Fine", 1).await;
    assert_eq!(row(&sg, "/svc.Feed/Broken").errors, 1);
    assert_eq!(row(&sg, "/svc.Feed/Fine").errors, 0);
    assert_eq!(row(&sg, "/svc.Feed/Broken").bytes_out, 5);
    assert!(sg.flush(Duration::from_secs(10)));
    let broken = req_events(&mem)
        .into_iter()
        .find(|(_, r)| r.route == "/svc.Feed/Broken")
        .unwrap();
    assert_eq!(
        broken.1.error.as_deref(),
        Some("gRPC 14 UNAVAILABLE: backend down: retry")
    );
}

/// With routes named from the path, a path the service does not know (a gRPC method that does not
/// exist, answered UNIMPLEMENTED; a plain service's 404) is recorded as `<unmatched>`: scanners'
/// paths make no rows and no metric labels.
#[tokio::test]
async fn unknown_paths_are_recorded_as_unmatched() {
    let (sg, _mem) = instance();
    let addr = serve_tonic(SpyglassLayer::with_instance(sg.clone()).route_from_path()).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let unknown = grpc
        .unary::<_, ExportTraceServiceResponse, _>(
            tonic::Request::new(ExportTraceServiceRequest::default()),
            http::uri::PathAndQuery::from_static("/wp.Admin/Login"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::Unimplemented);
    let mut client = TraceServiceClient::new(channel);
    client
        .export(ExportTraceServiceRequest::default())
        .await
        .unwrap();
    wait_count(&sg, EXPORT, 1).await;
    wait_count(&sg, "<unmatched>", 1).await;
    assert_eq!(count(&sg, "/wp.Admin/Login"), 0);

    let (sg, _mem) = instance();
    let plain = tower::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
        let status = if req.uri().path() == "/known" {
            200
        } else {
            404
        };
        Ok::<_, Infallible>(
            http::Response::builder()
                .status(status)
                .body(Full::new(Bytes::from_static(b"answer")))
                .unwrap(),
        )
    });
    let app = serve_hyper(
        SpyglassLayer::with_instance(sg.clone())
            .route_from_path()
            .layer(plain),
    )
    .await;
    assert_eq!(app.get("/known").await.status, 200);
    assert_eq!(app.get("/.env").await.status, 404);
    assert_eq!(app.get("/wp-login.php").await.status, 404);
    wait_count(&sg, "/known", 1).await;
    wait_count(&sg, "<unmatched>", 2).await;
    assert_eq!(count(&sg, "/.env"), 0);
}
