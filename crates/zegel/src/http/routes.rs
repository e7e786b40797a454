//! The JSON API's routes as a table: each route is registered through [`ApiRoutes`], which
//! records its method and path, so the router and the list `openapi.json` is checked against
//! (both ways, in the tests) are one and the same.

use super::AppState;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter};
use axum::Router;

/// One route of the JSON API.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiRoute {
    /// `GET`, `POST`, ...
    pub method: Method,
    /// The path template, e.g. `/api/v1/messages/{id}`.
    pub path: &'static str,
}

/// A router under construction and the table of what it routes.
pub struct ApiRoutes {
    router: Router<AppState>,
    table: Vec<ApiRoute>,
}

impl ApiRoutes {
    /// No routes yet.
    pub fn new() -> Self {
        ApiRoutes {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    /// Routes `method` on `path` to `handler`.
    pub fn add<H, T>(self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add_limited(method, path, handler, None)
    }

    /// Routes `method` on `path` to `handler`, with its own request body limit (uploads,
    /// which are streamed and checked by the service while they arrive).
    pub fn add_limited<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        handler: H,
        body_limit: Option<usize>,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        // Start-up: the methods are this crate's constants, all standard ones.
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|e| panic!("{method} on {path}: {e}"));
        let route = on(filter, handler);
        let route = match body_limit {
            Some(max) => route.layer(DefaultBodyLimit::max(max)),
            None => route,
        };
        self.router = self.router.route(path, route);
        self.table.push(ApiRoute { method, path });
        self
    }

    /// Both routers' routes together.
    pub fn merge(mut self, other: ApiRoutes) -> Self {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }

    /// The router and its table.
    pub fn finish(self) -> (Router<AppState>, Vec<ApiRoute>) {
        (self.router, self.table)
    }
}

impl Default for ApiRoutes {
    fn default() -> Self {
        Self::new()
    }
}
