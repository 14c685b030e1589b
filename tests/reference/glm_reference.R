# Reference values from R's survey package for tests/test_glm_reference.py (issue 14):
# svyglm (gaussian, quasibinomial, quasipoisson), confint, regTermTest, svyquantile (default
# method), svyratio, svycontrast of svyby domain means, svypredmeans, subset().
#
# Run from the repository root:  Rscript tests/reference/glm_reference.R [OUTDIR]
# (OUTDIR defaults to tests/reference). Writes OUTDIR/api/{apistrat,apiclus1,apiclus2}.csv (the
# columns used here of survey's `api` data, names with '_' for '.'), reads them back so R and
# Python see the same numbers, and writes OUTDIR/glm_reference.json.
suppressMessages({library(survey); library(jsonlite)})
options(survey.lonely.psu = "adjust")
args <- commandArgs(trailingOnly = TRUE)
here <- if (length(args)) args[1] else "tests/reference"
dir.create(file.path(here, "api"), showWarnings = FALSE, recursive = TRUE)

data(api)
keep <- c("stype", "sch.wide", "api00", "api99", "ell", "meals", "mobility", "enroll", "api.stu",
          "dnum", "snum", "pw")
export <- function(d, extra, name) {
  d <- d[, c(keep, extra)]
  names(d) <- gsub(".", "_", names(d), fixed = TRUE)
  d$sch_wide <- as.integer(d$sch_wide == "Yes")
  path <- file.path(here, "api", paste0(name, ".csv"))
  write.csv(d, path, row.names = FALSE)
  d <- read.csv(path, stringsAsFactors = FALSE)
  d$stype <- factor(d$stype)  # a factor, so svypredmeans can set one level for everybody
  d
}
strat <- export(apistrat, "fpc", "apistrat")
clus1 <- export(apiclus1, "fpc", "apiclus1")
clus2 <- export(apiclus2, c("fpc1", "fpc2"), "apiclus2")

# Population margins for raking the one-stage cluster sample (from apipop).
pop_types <- data.frame(stype = c("E", "H", "M"), Freq = as.numeric(table(apipop$stype)[c("E", "H", "M")]))
pop_sw <- data.frame(sch_wide = c(0L, 1L), Freq = as.numeric(table(apipop$sch.wide)[c("No", "Yes")]))

dclus1 <- svydesign(ids = ~dnum, weights = ~pw, fpc = ~fpc, data = clus1)
designs <- list(
  strat = svydesign(ids = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = strat),
  clus1 = dclus1,
  clus2 = svydesign(ids = ~dnum + snum, fpc = ~fpc1 + fpc2, weights = ~pw, data = clus2),
  raked = rake(dclus1, list(~stype, ~sch_wide), list(pop_types, pop_sw),
               control = list(maxit = 200, epsilon = 1e-13)),
  jk1 = as.svrepdesign(dclus1, type = "JK1")
)

fit_out <- function(m) {
  ci <- confint(m)
  list(coef = unname(coef(m)), se = unname(SE(m)), names = names(coef(m)),
       p = unname(summary(m)$coefficients[, 4]), df = m$df.residual,
       ci_low = unname(ci[, 1]), ci_high = unname(ci[, 2]))
}
test_out <- function(t) list(F = unname(as.numeric(t$Ftest)), df = t$df, ddf = t$ddf, p = unname(as.numeric(t$p)))
quant_out <- function(q) {
  m <- q[[1]]
  list(estimate = unname(m[, 1]), ci_low = unname(m[, 2]), ci_high = unname(m[, 3]), se = unname(m[, 4]))
}

out <- list(pop_types = setNames(as.list(pop_types$Freq), pop_types$stype),
            pop_sch_wide = setNames(as.list(pop_sw$Freq), pop_sw$sch_wide))
for (name in names(designs)) {
  des <- designs[[name]]
  r <- list(weights = unname(weights(des, "sampling")), degf = degf(des))
  g <- svyglm(api00 ~ ell + meals + mobility + stype, design = des)
  qb <- svyglm(sch_wide ~ ell + meals + mobility + stype, design = des, family = quasibinomial())
  qp <- svyglm(enroll ~ meals + ell + stype, design = des, family = quasipoisson())
  r$gaussian <- fit_out(g)
  r$quasibinomial <- fit_out(qb)
  r$quasipoisson <- fit_out(qp)
  r$glm_subset <- fit_out(svyglm(api00 ~ ell + meals, design = subset(des, meals > 20)))
  r$test_gaussian_stype <- test_out(regTermTest(g, ~stype))
  r$test_gaussian_ell_meals <- test_out(regTermTest(g, ~ell + meals))
  r$test_quasibinomial_stype <- test_out(regTermTest(qb, ~stype))
  r$quantile_api00 <- quant_out(svyquantile(~api00, des, c(0.25, 0.5, 0.9)))
  r$quantile_enroll <- quant_out(svyquantile(~enroll, des, c(0.1, 0.5), na.rm = TRUE))
  r$quantile_api00_E <- quant_out(svyquantile(~api00, subset(des, stype == "E"), c(0.5, 0.75)))
  rt <- svyratio(~api_stu, ~enroll, des, na.rm = TRUE)
  r$ratio <- list(estimate = unname(as.numeric(coef(rt))), se = unname(as.numeric(SE(rt))))
  if (!inherits(des, "svyrep.design") && !is.null(des$postStrata)) {
    # svyby(covmat = TRUE) fails on calibrated designs in survey 4.1 (its influence matrix has the
    # domain's rows only); the domain means are the same ratios, whose joint covariance svyratio
    # gives (the same linearization, (y - mean_d) 1[d] / W_d, through svyrecvar).
    ind <- model.matrix(~stype - 1, model.frame(des))
    dd <- update(des, yE = api00 * ind[, 1], yH = api00 * ind[, 2], yM = api00 * ind[, 3],
                  dE = ind[, 1], dH = ind[, 2], dM = ind[, 3])
    rr <- svyratio(~yE + yH + yM, ~dE + dH + dM, dd, covmat = TRUE)
    pick <- c(1, 5, 9)  # yE/dE, yH/dH, yM/dM in R's column-major order
    b <- structure(as.numeric(coef(rr))[pick], var = vcov(rr)[pick, pick], statistic = "mean",
                   class = "svystat")
    names(b) <- c("E", "H", "M")
    levels_b <- c("E", "H", "M")
  } else {
    b <- svyby(~api00, ~stype, des, svymean, covmat = TRUE)
    levels_b <- as.character(b$stype)
  }
  r$by_stype <- list(estimate = unname(as.numeric(coef(b))), se = unname(as.numeric(SE(b))),
                     levels = levels_b, vcov = unname(as.matrix(vcov(b))))
  cc <- svycontrast(b, list(EminusH = c(1, -1, 0), average = c(1, 1, 1) / 3))
  r$contrast_by <- list(estimate = unname(as.numeric(coef(cc))), se = unname(as.numeric(SE(cc))))
  growth <- svycontrast(svymean(~api00 + api99, des), c(api00 = 1, api99 = -1))
  r$contrast_growth <- list(estimate = unname(as.numeric(coef(growth))), se = unname(as.numeric(SE(growth))))
  s <- svymean(~api00, subset(des, ell > 10 & stype == "E"))
  r$subset_mean <- list(estimate = unname(coef(s)), se = unname(SE(s)))
  pm <- svypredmeans(svyglm(api00 ~ ell + meals, design = des), ~stype)
  parts <- attr(attr(pm, "var"), "parts")
  r$predmeans <- list(levels = names(coef(pm)), estimate = unname(coef(pm)), se = unname(SE(pm)),
                      var_model = unname(diag(parts[[1]])), var_sampling = unname(diag(parts[[2]])))
  out[[name]] <- r
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), file.path(here, "glm_reference.json"))
cat("ok\n")
