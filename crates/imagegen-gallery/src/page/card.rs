//! One card per job: its picture, state, prompt, facts, reason and files.

use std::collections::HashMap;

use imagegen_jobs::{JobRow, OutputRow};

use super::html::{self, Html};
use super::states;
use crate::thumbs::{ImageView, Preview};

/// The provider filter's value for a job that was never sent.
pub(crate) const NOT_SENT: &str = "-";

/// The provider a job is filtered by: the one its create went to.
pub(crate) fn provider_key(job: &JobRow) -> &str {
    job.provider.as_deref().unwrap_or(NOT_SENT)
}

pub(super) fn card(page: &mut Html, job: &JobRow, views: &HashMap<&str, &ImageView>) {
    let state = job.state.as_str();
    let id = job.id.to_string();
    page.raw("<article class=\"card s-")
        .raw(state)
        .raw(if states::is_problem(job.state) {
            " problem"
        } else {
            ""
        })
        .raw("\" id=\"job-")
        .raw(&id)
        .raw("\" data-state=\"")
        .raw(state)
        .raw("\" data-provider=\"")
        .text(provider_key(job))
        .raw("\">\n");
    picture(page, job, views);
    page.raw("<div class=\"info\">\n<div class=\"top\"><span class=\"badge b-")
        .raw(state)
        .raw("\" title=\"")
        .text(states::meaning(job.state))
        .raw("\">")
        .raw(states::label(job.state))
        .raw("</span><a href=\"#job-")
        .raw(&id)
        .raw("\">#")
        .raw(&id)
        .raw("</a>");
    if job.line > 0 {
        page.raw("<span>line ").raw(&job.line.to_string());
        if job.copy > 0 {
            page.raw(", copy ").raw(&(job.copy + 1).to_string());
        }
        page.raw("</span>");
    }
    if let Some(name) = &job.name {
        page.raw("<span>").text(name).raw("</span>");
    }
    page.raw("</div>\n<p class=\"prompt\">")
        .text(&job.prompt)
        .raw("</p>\n");
    facts(page, job);
    reason(page, job);
    files(page, job, views);
    page.raw("</div>\n</article>\n");
}

/// The thumbnail of the job's first image (linking to the image), or a
/// panel that says why there is none.
fn picture(page: &mut Html, job: &JobRow, views: &HashMap<&str, &ImageView>) {
    let Some(first) = job.outputs.first() else {
        let why = if job.state == imagegen_jobs::JobState::Done {
            "no image recorded"
        } else {
            "no image"
        };
        page.raw("<div class=\"thumb none s-")
            .raw(job.state.as_str())
            .raw("\">")
            .raw(states::label(job.state))
            .raw("<small>")
            .raw(why)
            .raw("</small></div>\n");
        return;
    };
    let more = job.outputs.len() - 1;
    let view = views.get(first.path.as_str());
    match view.map(|v| (&v.preview, v.href.as_deref())) {
        Some((Preview::Thumbnail { href: thumb, .. }, Some(image))) => {
            page.raw("<a class=\"thumb\" href=\"")
                .text(image)
                .raw("\" target=\"_blank\" rel=\"noopener\"><img src=\"")
                .text(thumb)
                .raw("\" loading=\"lazy\" decoding=\"async\" alt=\"image of job ")
                .raw(&job.id.to_string())
                .raw("\">");
            if more > 0 {
                page.raw("<span class=\"more\">+")
                    .raw(&more.to_string())
                    .raw("</span>");
            }
            page.raw("</a>\n");
        }
        Some((Preview::Unusable { reason }, href)) => {
            match href {
                Some(image) => page
                    .raw("<a class=\"thumb none\" href=\"")
                    .text(image)
                    .raw("\" target=\"_blank\" rel=\"noopener\">"),
                None => page.raw("<div class=\"thumb none\">"),
            };
            page.raw("no thumbnail<small>").text(reason).raw("</small>");
            page.raw(if href.is_some() { "</a>\n" } else { "</div>\n" });
        }
        _ => {
            page.raw("<div class=\"thumb none\">image missing<small>")
                .text(&first.path)
                .raw("</small>");
            if let Some(host) = &first.host {
                page.raw("<small>saved on ").text(host).raw("</small>");
            }
            page.raw("</div>\n");
        }
    }
}

/// Provider, task id and credits.
fn facts(page: &mut Html, job: &JobRow) {
    page.raw("<dl class=\"facts\"><dt>provider</dt><dd>");
    match &job.provider {
        Some(provider) => {
            page.text(provider);
        }
        None if job.providers.is_empty() => {
            page.raw("not sent");
        }
        None => {
            page.raw("not sent (")
                .text(&job.providers.join(", "))
                .raw(")");
        }
    }
    page.raw("</dd><dt>task</dt><dd class=\"task\">")
        .text(job.task_id.as_deref().unwrap_or("none"))
        .raw("</dd><dt>credits</dt><dd>");
    match (job.credits, job.est_credits) {
        (Some(reported), _) => page.raw(&html::credits(reported)),
        (None, Some(estimate)) => page
            .raw("~")
            .raw(&html::credits(estimate))
            .raw(" estimated"),
        (None, None) => page.raw("none"),
    };
    page.raw("</dd></dl>\n");
}

/// The last error, or for a problem without one what its state means.
fn reason(page: &mut Html, job: &JobRow) {
    if job.error.is_none() && !states::is_problem(job.state) {
        return;
    }
    page.raw("<p class=\"error\">");
    if let Some(kind) = &job.error_kind {
        page.raw("<b>").text(kind).raw("</b>");
    }
    page.text(
        job.error
            .as_deref()
            .unwrap_or_else(|| states::meaning(job.state)),
    )
    .raw("</p>\n");
}

/// A link to each image and its sidecar.
fn files(page: &mut Html, job: &JobRow, views: &HashMap<&str, &ImageView>) {
    if job.outputs.is_empty() {
        return;
    }
    page.raw("<p class=\"files\">");
    let numbered = job.outputs.len() > 1;
    for (i, output) in job.outputs.iter().enumerate() {
        if i > 0 {
            page.raw(" · ");
        }
        let label = image_label(output, numbered);
        match views
            .get(output.path.as_str())
            .and_then(|v| v.href.as_deref().map(|h| (v, h)))
        {
            Some((view, href)) => {
                page.raw("<a href=\"")
                    .text(href)
                    .raw("\" target=\"_blank\" rel=\"noopener\">")
                    .raw(&label)
                    .raw("</a>");
                if let Some(sidecar) = &view.sidecar_href {
                    page.raw(" <a href=\"")
                        .text(sidecar)
                        .raw("\" target=\"_blank\" rel=\"noopener\">sidecar</a>");
                }
            }
            None => {
                page.raw(&label).raw(" missing");
            }
        }
    }
    page.raw("</p>\n");
}

fn image_label(output: &OutputRow, numbered: bool) -> String {
    let size = match (output.width, output.height) {
        (Some(w), Some(h)) => format!(" ({w}x{h})"),
        _ => String::new(),
    };
    if numbered {
        format!("image {}{size}", output.idx + 1)
    } else {
        format!("image{size}")
    }
}
