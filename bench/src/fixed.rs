//! `certctl-bench fixed --listen ADDR --body-file FILE [--content-type TYPE]`: a bare axum server
//! that answers every POST with the same bytes. It is the HTTP stack's ceiling on this machine,
//! measured beside the responder in the same run by `bench/ocsp.sh`: no routing by issuer, no
//! parsing, no lookup, no caching headers, no middleware.

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::routing::post;

pub async fn serve(args: Vec<String>) -> anyhow::Result<()> {
    let (mut listen, mut body_file, mut content_type) = (None, None, "application/ocsp-response".to_owned());
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--body-file" => body_file = Some(value),
            "--content-type" => content_type = value,
            other => bail!("unknown flag {other}"),
        }
    }
    let listen = listen.context("--listen is required")?;
    let body_file = body_file.context("--body-file is required")?;
    let body = Bytes::from(std::fs::read(&body_file).with_context(|| format!("cannot read {body_file}"))?);
    let app = Router::new().fallback(post(move |_request: Bytes| {
        let (body, content_type) = (body.clone(), content_type.clone());
        async move { ([(header::CONTENT_TYPE, content_type)], body) }
    }));
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    axum::serve(listener, app).await?;
    Ok(())
}
