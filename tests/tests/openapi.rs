//! The OpenAPI document and the docs page, as an engineer adopting the service meets them.

use pika_tests::TestApp;

/// Every route the service serves, as (path, method). The document is built from the routers,
/// so a route missing here and there is a route someone forgot to annotate.
const ROUTES: &[(&str, &str)] = &[
    ("/healthz", "get"),
    ("/readyz", "get"),
    ("/metrics", "get"),
    ("/v1/extractions", "post"),
    ("/v1/jobs/{job_id}", "get"),
    ("/v1/search", "post"),
    ("/v1/users/{user_id}/favorites", "get"),
    ("/v1/users/{user_id}/facts", "get"),
    ("/v1/users/{user_id}/episodes", "get"),
    ("/v1/users/{user_id}/facts", "post"),
    ("/v1/users/{user_id}", "delete"),
    ("/v1/facts/{fact_id}", "get"),
    ("/v1/facts/{fact_id}", "patch"),
    ("/v1/facts/{fact_id}", "delete"),
    ("/v1/facts/{fact_id}/history", "get"),
    ("/v1/users/{user_id}/export", "get"),
    ("/v1/users", "get"),
    ("/v1/users/{user_id}/jobs", "get"),
    ("/v1/projections", "get"),
    ("/v1/ping/", "get"),
    ("/v3/memories/add/", "post"),
    ("/v1/memories/", "post"),
    ("/v1/memories/", "delete"),
    ("/v3/memories/search/", "post"),
    ("/v2/memories/search/", "post"),
    ("/v3/memories/", "post"),
    ("/v2/memories/", "post"),
    ("/v1/memories/{memory_id}/", "get"),
    ("/v1/memories/{memory_id}/", "put"),
    ("/v1/memories/{memory_id}/", "delete"),
    ("/v1/memories/{memory_id}/history/", "get"),
    ("/v1/entities/", "get"),
    ("/v2/entities/{entity_type}/{entity_id}/", "delete"),
];

#[tokio::test]
async fn openapi_document_is_3_1_and_lists_every_route_without_a_key() {
    let app = TestApp::spawn().await;
    let response = reqwest::get(app.url("/openapi.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in ROUTES {
        assert!(
            paths
                .get(*path)
                .and_then(|item| item.get(*method))
                .is_some(),
            "{method} {path} is not documented"
        );
    }
    let documented: usize = paths
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, ROUTES.len(), "undocumented extras: {paths:?}");

    let search = &paths["/v1/search"]["post"];
    assert!(search["responses"]["401"].is_object(), "{search}");
    assert!(search["responses"]["429"].is_object(), "{search}");
    assert!(search["security"].is_array(), "{search}");
    assert!(paths["/healthz"]["get"]["security"].is_null());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let add = &paths["/v3/memories/add/"]["post"];
    assert_eq!(add["tags"][0], "mem0");
    for status in ["400", "401", "415", "422", "429", "503"] {
        assert!(add["responses"][status].is_object(), "{status}: {add}");
    }
    app.stop().await;
}

#[tokio::test]
async fn docs_page_and_its_assets_come_from_the_binary_without_a_key() {
    let app = TestApp::spawn().await;
    let page = reqwest::get(app.url("/docs")).await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("docs/swagger-ui-bundle.js"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page must load nothing remote: {html}"
    );

    for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        let response = reqwest::get(app.url(&format!("/docs/{asset}")))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 1_000, "{asset}");
    }
    let missing = reqwest::get(app.url("/docs/nothing-here.js"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_known_route_with_the_wrong_method_answers_405_as_a_problem() {
    let app = TestApp::spawn().await;
    let response = app.client.put(app.url("/v1/search")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], 405);
    app.stop().await;
}
