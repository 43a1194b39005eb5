//! The tag list of a repository: every page of `tags/list` (followed by `Link`, each page once, a
//! bounded number of them, all within one deadline), then the digests of the tags wanted.

use std::collections::BTreeMap;

use futures_util::{StreamExt, stream};
use reqwest::{Method, StatusCode};

use super::{CONCURRENCY, Oci};
use crate::registry::error::{Problem, Request};
use crate::registry::wire::{listed_tags, next_link};
use crate::registry::{RegistryError, RepoState};

impl Oci {
    /// Every tag of a repository (following `Link` pagination), with the digests of the wanted ones.
    pub async fn list(
        &self,
        repository: &str,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<RepoState, RegistryError> {
        let name = self.name(repository);
        let scope = format!("repository:{name}:pull");
        let mut state = RepoState {
            address: self.repository(repository)?,
            exists: true,
            tags: BTreeMap::new(),
        };
        let deadline = crate::net::listing_timeout();
        let listed = tokio::time::timeout(
            deadline,
            self.list_within(repository, wanted, &name, &scope, &mut state),
        )
        .await;
        match listed {
            Ok(result) => result.map(|()| state),
            Err(_) => Err(self.protocol(
                Request::TagsList,
                Problem::TagsDeadline {
                    address: state.address.to_string(),
                    after: deadline,
                },
            )),
        }
    }

    /// [`Oci::list`] without its deadline: every page of the tag list, a page at most once and
    /// at most [`crate::limits::TAG_PAGES`] of them, then the digests wanted.
    async fn list_within(
        &self,
        repository: &str,
        wanted: &(dyn Fn(&str) -> bool + Sync),
        name: &str,
        scope: &str,
        state: &mut RepoState,
    ) -> Result<(), RegistryError> {
        let mut next = Some(format!("/v2/{name}/tags/list?n=1000"));
        let mut seen = std::collections::HashSet::new();
        while let Some(url) = next.take() {
            // A page is known by its address resolved against the registry's: a `Link` that
            // names the same page relative or absolute is the same page.
            let page = url::Url::parse(&self.base)
                .and_then(|base| base.join(&url))
                .map_or_else(|_| url.clone(), |u| u.to_string());
            if !seen.insert(page.clone()) {
                return Err(self.protocol(Request::TagsList, Problem::LinkLoop { page }));
            }
            if seen.len() > crate::limits::TAG_PAGES {
                return Err(self.protocol(
                    Request::TagsList,
                    Problem::TooManyPages {
                        address: state.address.to_string(),
                    },
                ));
            }
            let resp = self.send(Method::GET, &url, scope, |r| r).await?;
            if resp.status() == StatusCode::NOT_FOUND {
                state.exists = false;
                return Ok(());
            }
            if !resp.status().is_success() {
                let status = resp.status();
                return Err(self.status(status, Request::TagsList, self.quoted(resp).await));
            }
            next = next_link(resp.headers());
            let url = resp.url().to_string();
            let body = self
                .json(resp, crate::limits::TAG_PAGE, Request::TagsList)
                .await?;
            let tags = listed_tags(&body)
                .ok_or_else(|| self.protocol(Request::TagsList, Problem::TagsNotAList { url }))?;
            for t in tags {
                state.tags.insert(t.to_string(), None);
            }
        }
        let wanted_tags: Vec<String> = state.tags.keys().filter(|t| wanted(t)).cloned().collect();
        let digests: Vec<(String, Result<Option<String>, RegistryError>)> =
            stream::iter(wanted_tags)
                .map(|tag| async {
                    let d = self.digest(repository, &tag).await;
                    (tag, d)
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        for (tag, digest) in digests {
            state.tags.insert(tag, digest?);
        }
        Ok(())
    }
}
