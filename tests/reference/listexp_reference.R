# Independent reference values for tests/test_listexp_reference.py, computed with base R, sandwich
# and survey from the model definitions of Imai (2011) and Blair & Imai (2012) (our own R code).
# Usage: Rscript listexp_reference.R data.csv out.json
suppressMessages(library(survey))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
J <- 3
X <- cbind(1, d$age, d$male)
y <- d$y; tr <- d$t; w <- d$w
k <- ncol(X)
out <- list()

# lm: y ~ [X, X*T] with weights, HC3 (sandwich default)
Z <- cbind(X, X * tr)
f <- lm(y ~ Z - 1, weights = w)
if (requireNamespace("sandwich", quietly = TRUE)) {
  V <- sandwich::vcovHC(f)  # HC3, as ictreg
} else {  # HC3 from its definition (MacKinnon & White 1985) with lm's weighted hat values
  e <- residuals(f); h <- hatvalues(f)
  bread <- solve(crossprod(Z * sqrt(w)))
  V <- bread %*% crossprod(Z * (w * e / (1 - h))) %*% bread
}
out$lm_coef <- unname(coef(f)); out$lm_se <- unname(sqrt(diag(V)))

# ML: observed-data log-likelihood, maximised by optim, Hessian by optimHess
lg <- function(x) 1 / (1 + exp(-x))
llik <- function(par, const = TRUE, ceil = FALSE, flo = FALSE) {
  g <- lg(X %*% par[1:k])
  if (const) { h0 <- h1 <- lg(X %*% par[(k+1):(2*k)]); nxt <- 2*k + 1 } else {
    h0 <- lg(X %*% par[(k+1):(2*k)]); h1 <- lg(X %*% par[(2*k+1):(3*k)]); nxt <- 3*k + 1 }
  ql <- if (flo) lg(par[nxt]) else 0; if (flo) nxt <- nxt + 1
  qu <- if (ceil) lg(par[nxt]) else 0
  b0 <- function(v) dbinom(v, J, h0); b1 <- function(v) dbinom(v, J, h1)
  L <- ifelse(tr == 0, g * b1(y) + (1 - g) * b0(y),
       (1 - g) * b0(y) * (y <= J) + g * b1(y - 1) * (y >= 1) *
         ifelse(y == 1, 1 - ql, 1) * ifelse(y == J + 1, 1 - qu, 1) +
         g * b0(y) * ifelse(y == 0, ql, 0) + g * b0(y) * ifelse(y == J, qu, 0))
  sum(w * log(L))
}
fitml <- function(start, ...) {
  o <- optim(start, llik, method = "BFGS", control = list(fnscale = -1, reltol = 1e-15, maxit = 10000), ...)
  o <- optim(o$par, llik, method = "BFGS", control = list(fnscale = -1, reltol = 1e-15, maxit = 10000), ...)
  H <- optimHess(o$par, llik, ...)
  list(par = o$par, se = sqrt(diag(solve(-H))), ll = o$value)
}
m <- fitml(rep(0, 2*k), const = TRUE)
out$ml_coef <- m$par; out$ml_se <- m$se; out$ml_ll <- m$ll
m <- fitml(rep(0, 3*k), const = FALSE)
out$mlu_coef <- m$par; out$mlu_se <- m$se; out$mlu_ll <- m$ll
m <- fitml(c(rep(0, 2*k), -1, -1), const = TRUE, ceil = TRUE, flo = TRUE)
out$mlb_coef <- m$par; out$mlb_se <- m$se; out$mlb_ll <- m$ll

# joint ML of two sensitive items sharing one control model (unweighted, as ictreg's multi-item ML)
t3 <- d$t3; y3 <- d$y3
llik3 <- function(par) {
  g1 <- lg(X %*% par[1:k]); g2 <- lg(X %*% par[(k+1):(2*k)]); h <- lg(X %*% par[(2*k+1):(3*k)])
  g <- ifelse(t3 == 1, g1, g2)
  L <- ifelse(t3 == 0, dbinom(y3, J, h), g * dbinom(y3 - 1, J, h) + (1 - g) * dbinom(y3, J, h))
  sum(log(L))
}
o <- optim(rep(0, 3*k), llik3, method = "BFGS", control = list(fnscale = -1, reltol = 1e-15, maxit = 10000))
o <- optim(o$par, llik3, method = "BFGS", control = list(fnscale = -1, reltol = 1e-15, maxit = 10000))
out$multi_coef <- o$par; out$multi_se <- sqrt(diag(solve(-optimHess(o$par, llik3)))); out$multi_ll <- o$value

# beta-binomial control count (ictreg's overdispersed = TRUE, constrained): gamlss.dist's
# dBB(y, mu, sigma = rho / (1 - rho), bd = J), written from its definition with lbeta;
# par = (control coefficients, logit(rho), sensitive coefficients), ictreg's order
# When VGAM is installed (Debian r-cran-vgam; ictreg's EM M-step is VGAM's betabinomial family),
# the likelihood uses VGAM::dbetabinom(prob = mu, rho = sigma / (1 + sigma)) instead, after
# checking that both definitions agree: an implementation that is not ours, in ictreg's own terms.
ybb <- d$ybb
dbb <- function(v, mu, sigma) {
  ok <- v >= 0 & v <= J; vv <- pmin(pmax(v, 0), J)
  ifelse(ok, choose(J, vv) * exp(lbeta(vv + mu / sigma, J - vv + (1 - mu) / sigma) - lbeta(mu / sigma, (1 - mu) / sigma)), 0)
}
if (requireNamespace("VGAM", quietly = TRUE)) {
  grid <- expand.grid(v = -1:(J + 1), mu = c(0.03, 0.3, 0.5, 0.8, 0.99), sigma = c(1e-6, 0.05, 1 / 3, 4))
  dbb_vgam <- function(v, mu, sigma) {
    ok <- v >= 0 & v <= J
    ifelse(ok, VGAM::dbetabinom(pmin(pmax(v, 0), J), size = J, prob = mu, rho = sigma / (1 + sigma)), 0)
  }
  out$bb_dbb_vs_vgam <- max(abs(dbb(grid$v, grid$mu, grid$sigma) - dbb_vgam(grid$v, grid$mu, grid$sigma)))
  dbb <- dbb_vgam
}
llik_bb <- function(par) {
  h <- lg(X %*% par[1:k]); rho <- lg(par[k + 1]); g <- lg(X %*% par[(k + 2):(2 * k + 1)])
  s <- rho / (1 - rho)
  L <- ifelse(tr == 0, g * dbb(ybb, h, s) + (1 - g) * dbb(ybb, h, s), g * dbb(ybb - 1, h, s) + (1 - g) * dbb(ybb, h, s))
  sum(w * log(L))
}
o <- optim(c(rep(0, k), 0.5, rep(0, k)), llik_bb, method = "BFGS", control = list(fnscale = -1, reltol = 1e-15, maxit = 10000))
o <- optim(o$par, llik_bb, method = "BFGS", control = list(fnscale = -1, reltol = 1e-15, maxit = 10000))
par <- o$par
for (i in 1:3) par <- par - solve(numDeriv::hessian(llik_bb, par), numDeriv::grad(llik_bb, par))  # Newton polish
Hbb <- numDeriv::hessian(llik_bb, par)
out$bb_coef <- par; out$bb_se <- sqrt(diag(solve(-Hbb))); out$bb_ll <- llik_bb(par)

# NLS two-step point estimates
c0 <- tr == 0; t1 <- tr == 1
Xc <- X[c0, ]; yc <- y[c0]; wc <- w[c0]
n1 <- nls(yc / J ~ lg(Xc %*% b), start = list(b = rep(0, k)), weights = wc, control = nls.control(tol = 1e-9, maxiter = 1000, minFactor = 1e-12, warnOnly = TRUE))
psi <- coef(n1)
Xt <- X[t1, ]; adj <- y[t1] - J * lg(Xt %*% psi); wt1 <- w[t1]
n2 <- nls(adj ~ lg(Xt %*% b), start = list(b = rep(0, k)), weights = wt1, control = nls.control(tol = 1e-9, maxiter = 1000, minFactor = 1e-12, warnOnly = TRUE))
out$nls_sens <- unname(coef(n2)); out$nls_ctrl <- unname(psi)

# difference in means with strata and PSUs (linearization), overall and in a domain
des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = d, nest = TRUE)
g <- svyglm(y ~ t, design = des)
out$dim <- unname(coef(g)[2]); out$dim_se <- unname(SE(g)[2])
g1 <- svyglm(y ~ t, design = subset(des, male == 1))
out$dim_m1 <- unname(coef(g1)[2]); out$dim_m1_se <- unname(SE(g1)[2])
# the linear list regression (covariate age) refitted in each domain of male, as
# svyby(~y, ~male, des, svyglm, ...): coefficients [control (Intercept), age, sensitive (Intercept), age]
lm_terms <- c("(Intercept)", "age", "t", "age:t")
for (m in 0:1) {
  gm <- svyglm(y ~ age + t + age:t, design = subset(des, male == m))
  out[[sprintf("lm_by_m%d_coef", m)]] <- unname(coef(gm)[lm_terms])
  out[[sprintf("lm_by_m%d_se", m)]] <- unname(SE(gm)[lm_terms])
}

# list + direct: gap = mean(D) - DiM with the joint linearization
d$Dc <- d$D
gap <- svycontrast(svyby(~y, ~t, des, svymean, covmat = TRUE), c(-1, 1))
m_all <- svymean(~D, des)
# joint: regress on stacked influence via svytotal of hand linearization
WT <- sum(w[tr == 1]); WC <- sum(w[tr == 0]); W <- sum(w)
mT <- sum(w[tr == 1] * y[tr == 1]) / WT; mC <- sum(w[tr == 0] * y[tr == 0]) / WC; pD <- sum(w * d$D) / W
d$u_gap <- (d$D - pD) / W - (tr == 1) * (y - mT) / WT + (tr == 0) * (y - mC) / WC
des2 <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = d, nest = TRUE)
out$gap <- pD - (mT - mC); out$gap_se <- as.numeric(SE(svytotal(~u_gap, des2)))
out$dim_se_contrast <- as.numeric(SE(gap))
# plain JSON writer (no jsonlite needed): every entry is a numeric vector
json <- paste0("{", paste(sprintf('"%s": [%s]', names(out),
  sapply(out, function(v) paste(sprintf("%.17g", as.numeric(v)), collapse = ", "))), collapse = ",\n"), "}")
writeLines(json, args[2])
