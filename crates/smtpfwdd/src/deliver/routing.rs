//! Where each recipient goes: the transport map, the relay or the domain's MX hosts, with the
//! gateway's own smtpd and (for MX routes) inside addresses screened out; and the grouping of
//! the pending recipients by route.

use super::*;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Route {
    Fixed(String, u16),
    Mx(String),
}

impl Route {
    fn key(&self) -> String {
        match self {
            Route::Fixed(h, p) => format!("{h}:{p}"),
            Route::Mx(d) => format!("MX of {d}"),
        }
    }
}

pub(super) fn route_of(ctx: &Context, rcpt: &str) -> Route {
    let d = mx::domain_of(rcpt);
    if let Some((h, p)) = ctx.transport_map.lookup(&d) {
        return Route::Fixed(h, p);
    }
    if !ctx.relay.is_empty() {
        let (h, p) = spool::config::split_host_port(&ctx.relay, 25);
        return Route::Fixed(h, p);
    }
    Route::Mx(d)
}

pub(super) fn hosts_of(ctx: &Context, route: &Route) -> Result<Vec<Host>, RouteError> {
    let hosts = match route {
        Route::Fixed(h, p) => mx::system_host(h, *p).map(|h| vec![h])?,
        Route::Mx(d) if d.is_empty() => {
            return Err(RouteError::Permanent(
                "recipient has no domain and no relay is set".into(),
            ))
        }
        Route::Mx(d) => ctx
            .resolver()
            .map_err(RouteError::Transient)?
            .mx_hosts(d, ctx.opts.mx_port)?,
    };
    screen_hosts(ctx, route, hosts)
}

/// Drop the addresses mail must not go to: this gateway's own smtpd (any route: a mail loop),
/// and for MX routes the non-global addresses unless `allow_private_mx` (an MX record is the
/// domain owner's word, and would otherwise reach loopback services and the internal network).
/// When nothing is left: a loop keeps the mail (the admin must fix the relay; an error line
/// each try), an MX naming only inside addresses bounces it.
pub(super) fn screen_hosts(
    ctx: &Context,
    route: &Route,
    hosts: Vec<Host>,
) -> Result<Vec<Host>, RouteError> {
    let ports = &ctx.cfg.forward.smtpd_ports;
    let own = if ports.is_empty() {
        Vec::new()
    } else {
        mx::local_addresses()
    };
    let check_global = matches!(route, Route::Mx(_)) && !ctx.cfg.forward.allow_private_mx;
    let mut looped = Vec::new();
    let mut inside = Vec::new();
    let mut kept = Vec::new();
    for mut h in hosts {
        h.addrs.retain(|a| {
            if mx::is_own_smtpd(a, ports, &own) {
                looped.push(format!("{}[{a}]", h.name));
                false
            } else if check_global && !mx::is_global(a.ip()) {
                inside.push(format!("{}[{}]", h.name, a.ip()));
                false
            } else {
                true
            }
        });
        if !h.addrs.is_empty() {
            kept.push(h);
        }
    }
    if !kept.is_empty() {
        return Ok(kept);
    }
    if !looped.is_empty() {
        let m = format!(
            "mail loop: {} is this gateway's own smtpd ({}); set [forward] relay to the internal \
             mail server",
            route.key(),
            looped.join(", ")
        );
        log::error!("{m}");
        return Err(RouteError::Transient(m));
    }
    if !inside.is_empty() {
        return Err(RouteError::Unroutable(format!(
            "{} has only non-global addresses ({}); refused ([forward] allow_private_mx)",
            route.key(),
            inside.join(", ")
        )));
    }
    // No address at all (never an empty list to the connection loop below).
    Err(RouteError::Transient(format!(
        "no address for {}",
        route.key()
    )))
}

/// One batch of recipients that go the same way: a route (SMTP), or a run of `-s PROG`.
pub(super) struct Group {
    pub(super) key: String,
    pub(super) rcpts: Vec<usize>,
    pub(super) route: Option<Route>,
}

/// Group step: the pending recipients by route (in first-seen order), or in runs of at most
/// [`sendmail::MAX_RCPTS`] for `-s PROG`.
pub(super) fn group(ctx: &Context, env: &Envelope) -> Vec<Group> {
    let pending: Vec<usize> = (0..env.recipients.len())
        .filter(|&i| !env.recipients[i].sent)
        .collect();
    if ctx.opts.sendmail.is_some() {
        return pending
            .chunks(sendmail::MAX_RCPTS)
            .map(|c| Group {
                key: String::new(),
                rcpts: c.to_vec(),
                route: None,
            })
            .collect();
    }
    let mut by_route: Vec<(Route, Vec<usize>)> = Vec::new();
    for &i in &pending {
        let r = route_of(ctx, &env.recipients[i].addr);
        match by_route.iter_mut().find(|(x, _)| *x == r) {
            Some((_, v)) => v.push(i),
            None => by_route.push((r, vec![i])),
        }
    }
    by_route
        .into_iter()
        .map(|(r, v)| Group {
            key: r.key(),
            rcpts: v,
            route: Some(r),
        })
        .collect()
}
