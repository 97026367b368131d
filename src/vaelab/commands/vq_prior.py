"""vaelab fit-prior RUN --kind pixelcnn: train a VQ-VAE's PixelCNN prior over its code grid (second stage).

Registered only when no other `fit-prior` command exists (another branch adds ex-post latent priors under
that name; after merging, that command should hand `--kind pixelcnn` to `vaelab.models.vqvae.fit_code_prior`).
"""

from __future__ import annotations

from vaelab.commands.base import COMMANDS


class FitCodePrior:
    help = "train a VQ-VAE's PixelCNN prior on the training set's codes; saved in RUN_DIR/model.keras"

    @staticmethod
    def register(p):
        p.add_argument("run_dir", metavar="RUN_DIR", help="a vaelab run directory (model.kind vqvae)")
        p.add_argument("--kind", default="pixelcnn", help="prior to fit (default pixelcnn)")
        p.add_argument("--epochs", type=int, default=10, help="training epochs of the prior (default 10)")
        p.add_argument("--limit", type=int, default=None, help="fit on the first N training images only")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    @staticmethod
    def run(args) -> int:
        from vaelab.models.vqvae import fit_code_prior

        path, info = fit_code_prior(args.run_dir, args.kind, epochs=args.epochs, limit=args.limit, seed=args.seed)
        print(f"{args.kind} prior fitted on {info['codes']} code grids, {info['epochs']} epochs in all; "
              f"last epoch -log p(codes) {info['nll'][-1]:.2f} nats/grid; saved in {path}")
        return 0


if "fit-prior" not in COMMANDS:
    COMMANDS.register("fit-prior")(FitCodePrior)
