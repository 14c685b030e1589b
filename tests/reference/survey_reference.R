# Reference values from R's survey package for tests/test_survey_reference.py.
#
# Run from the repository root:  Rscript tests/reference/survey_reference.R
# Reads tests/reference/survey_data.csv (simulated, written by make_survey_data.py, replicate
# weight columns included so nothing here depends on R's random numbers) and writes
# tests/reference/survey_reference.json. Also, when the Chronicles wave-1 file is present,
# tests/reference/chronicles_w1.json (estimates only; the data are not copied).
suppressMessages({library(survey); library(jsonlite)})
options(survey.lonely.psu = "adjust")
here <- "tests/reference"
d <- read.csv(file.path(here, "survey_data.csv"))
d$catf <- factor(d$cat)
d$gf <- factor(d$g)
d$af <- factor(d$a)
d$bf <- factor(d$b)

designs <- list(
  weights = svydesign(ids = ~1, weights = ~w, data = d),
  strata_psu = svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = d),
  strata_psu_fpc = svydesign(ids = ~psu, strata = ~stratum, weights = ~w, fpc = ~fpc, data = d),
  jk1_columns = svrepdesign(data = d, repweights = "^jk[0-9]+$", type = "JK1", weights = ~w,
                            combined.weights = TRUE),
  bootstrap_columns = svrepdesign(data = d, repweights = "^bs[0-9]+$", type = "bootstrap",
                                  weights = ~w, combined.weights = TRUE),
  jk1_created = as.svrepdesign(svydesign(ids = ~psu, weights = ~w, data = d), type = "JK1"),
  jkn_created = as.svrepdesign(svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = d), type = "JKn"),
  jkn_created_fpc = as.svrepdesign(svydesign(ids = ~psu, strata = ~stratum, weights = ~w, fpc = ~fpc, data = d),
                                   type = "JKn")
)
pop_a <- data.frame(af = factor(1:2), Freq = c(52000, 48000))
pop_b <- data.frame(bf = factor(1:3), Freq = c(30000, 45000, 25000))
pop_g <- data.frame(gf = factor(1:3), Freq = c(50000, 30000, 20000))
tight <- list(maxit = 200, epsilon = 1e-13)
designs$raked <- rake(designs$strata_psu, list(~af, ~bf), list(pop_a, pop_b), control = tight)
designs$raked_weights_only <- rake(designs$weights, list(~af, ~bf), list(pop_a, pop_b), control = tight)
designs$poststratified <- postStratify(designs$strata_psu, ~gf, pop_g)
designs$jk1_raked <- rake(designs$jk1_columns, list(~af, ~bf), list(pop_a, pop_b), control = tight)
designs$bootstrap_poststratified <- postStratify(designs$bootstrap_columns, ~gf, pop_g)

stat <- function(s) list(estimate = unname(coef(s)), se = unname(SE(s)))
out <- list()
for (name in names(designs)) {
  des <- designs[[name]]
  r <- list()
  r$mean_x <- stat(svymean(~x, des))
  r$total_x <- stat(svytotal(~x, des))
  r$mean_xm <- stat(svymean(~xm, des, na.rm = TRUE))
  r$prop_cat <- stat(svymean(~catf, des))
  r$total_cat <- stat(svytotal(~catf, des))
  r$mean_y <- stat(svymean(~y, des))
  by <- svyby(~catf, ~gf, des, svymean)
  r$prop_cat_by_g <- list(estimate = unname(as.matrix(coef(by))), se = unname(as.matrix(SE(by))))
  byx <- svyby(~x, ~gf, des, svymean)
  r$mean_x_by_g <- list(estimate = unname(coef(byx)), se = unname(SE(byx)))
  r$weights <- unname(weights(des, "sampling"))
  if (!inherits(des, "svyrep.design")) {
    r$df <- degf(des)
    r$df_g2 <- degf(subset(des, g == 2))
    dm <- svymean(~y, des, deff = TRUE)
    r$deff_y <- unname(deff(dm))
    dc <- svymean(~catf, des, deff = TRUE)
    r$deff_cat <- unname(deff(dc))
    ci <- list()
    for (m in c("logit", "beta", "mean")) {
      full <- svyciprop(~y, des, method = m)
      sub <- svyciprop(~y, subset(des, g == 2), method = m)
      ci[[m]] <- list(full = unname(c(coef(full), attr(full, "ci"))),
                      g2 = unname(c(coef(sub), attr(sub, "ci"))))
    }
    r$ciprop_y <- ci
    for (st in c("F", "Chisq")) {
      t <- svychisq(~catf + gf, des, statistic = st)
      r[[paste0("chisq_", st)]] <- list(statistic = unname(t$statistic), parameter = unname(t$parameter),
                                        p = unname(t$p.value))
    }
  } else {
    r$scale <- des$scale
    r$rscales <- unname(des$rscales)
  }
  out[[name]] <- r
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), file.path(here, "survey_reference.json"))

wave1 <- "../shared/data/chronicles/chronicles-01-2022-02-28.sav"
if (file.exists(wave1)) {
  w1 <- haven::read_sav(wave1)
  w1 <- data.frame(Q4 = factor(as.numeric(w1$Q4)), wt = as.numeric(w1$wes_age_gender_tnp))
  dw <- svydesign(ids = ~1, weights = ~wt, data = w1)
  s <- svymean(~Q4, dw)
  ci <- lapply(levels(w1$Q4), function(l) {
    p <- svyciprop(as.formula(paste0("~I(Q4 == '", l, "')")), dw, method = "logit")
    unname(c(coef(p), attr(p, "ci")))
  })
  writeLines(toJSON(list(levels = levels(w1$Q4), estimate = unname(coef(s)), se = unname(SE(s)),
                         logit = ci, base = sum(w1$wt), zero = sum(w1$wt == 0)),
                    digits = NA, auto_unbox = TRUE),
             file.path(here, "chronicles_w1.json"))
}
cat("ok\n")
